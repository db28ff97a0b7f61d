package handlers

import (
	"bytes"
	"net/http"

	"github.com/gorilla/mux"

	"selfcare/commands"
)

// CaptchasAPI serves the captchas that guard the anonymous forms.
type CaptchasAPI struct {
	Captchas *commands.Captchas
}

// Routes registers the captcha endpoints.
func (f CaptchasAPI) Routes(r *Routes) {
	r.Handle("POST /api/v1/captchas", f.create)
	r.Handle("GET /api/v1/captchas/{id}.png", f.image)
}

func (f CaptchasAPI) create(w http.ResponseWriter, r *http.Request) {
	id, err := f.Captchas.New(r.Context())
	if err != nil {
		fail(w, r, err)
		return
	}
	url := "/api/v1/captchas/" + id + ".png"
	w.Header().Set("Location", url)
	writeJSON(w, http.StatusCreated, map[string]any{
		"captcha_id": id,
		"image_url":  url,
		"digits":     commands.CaptchaDigits,
		"expires_in": int(commands.CaptchaValidity.Seconds()),
	})
}

func (f CaptchasAPI) image(w http.ResponseWriter, r *http.Request) {
	var png bytes.Buffer
	if err := f.Captchas.WriteImage(r.Context(), mux.Vars(r)["id"], &png); err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(png.Bytes())
}
