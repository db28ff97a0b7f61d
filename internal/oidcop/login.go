package oidcop

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"selfcare/commands"
	"selfcare/internal/auth"
)

// The provider's sign-in page: the customer area's look (its stylesheet),
// French or English (ui_locales, then the browser's languages, or the
// language links), the two "forgotten" links of the customer area, and the
// same password check and throttle as the customer area's sign-in
// (commands.Sessions). Its form is protected from cross-site posting by a
// token bound to the request and to a cookie of the browser.

var loginTexts = map[string]map[string]string{
	"en": {
		"title": "Sign in", "lead": "Sign in with your customer area login to open the technical console of the company account",
		"login": "Login", "password": "Password", "submit": "Sign in",
		"forgot_password": "Forgot your password?", "forgot_login": "Forgot your login?",
		"bad_credentials": "Wrong login or password.", "both_required": "Enter your login and your password.",
		"throttled": "Too many failed attempts: try again in %s s.", "captcha_required": "Too many failed sign-ins for this login: sign in once on the customer area (it asks you to solve a captcha), then come back.", "expired": "This sign-in request has expired or was already used: go back to the console and start again.",
		"csrf": "This form has expired: please try again.", "other": "FR",
	},
	"fr": {
		"title": "Connexion", "lead": "Connectez-vous avec votre identifiant de l'espace client pour ouvrir la console technique du compte entreprise",
		"login": "Identifiant", "password": "Mot de passe", "submit": "Se connecter",
		"forgot_password": "Mot de passe oublié ?", "forgot_login": "Identifiant oublié ?",
		"bad_credentials": "Identifiant ou mot de passe incorrect.", "both_required": "Saisissez votre identifiant et votre mot de passe.",
		"throttled": "Trop de tentatives infructueuses : réessayez dans %s s.", "captcha_required": "Trop de connexions échouées pour cet identifiant : connectez-vous une fois à l'espace client (il vous demandera de résoudre un captcha), puis revenez.", "expired": "Cette demande de connexion a expiré ou a déjà servi : revenez à la console et recommencez.",
		"csrf": "Ce formulaire a expiré : veuillez réessayer.", "other": "EN",
	},
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.T.title}} · Cloud customer area</title>
<link rel="icon" href="/ui/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/ui/style.css">
</head>
<body>
<header class="top"><strong>Cloud customer area · Espace client Cloud</strong>
{{if .ID}}<a id="oidc-lang" href="{{.OtherLangURL}}" lang="{{.OtherLang}}">{{.T.other}}</a>{{end}}</header>
<main>
<form id="oidc-signin-form" class="card narrow" method="post" action="{{.Action}}">
<h1>{{.T.title}}</h1>
{{if .Company}}<p class="lead">{{.T.lead}} <strong id="oidc-company">{{.Company}}</strong></p>{{end}}
{{if .Error}}<div class="alert alert-error" id="oidc-signin-error" role="alert"><p>{{.Error}}</p></div>{{end}}
{{if .ID}}
<input type="hidden" name="id" value="{{.ID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="lang" value="{{.Lang}}">
<div class="field"><label for="oidc-login">{{.T.login}}</label>
<input id="oidc-login" name="login" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required value="{{.Login}}"></div>
<div class="field"><label for="oidc-password">{{.T.password}}</label>
<input id="oidc-password" name="password" type="password" autocomplete="current-password" required></div>
<div class="buttons"><button type="submit" id="oidc-signin-submit" class="primary">{{.T.submit}}</button></div>
{{end}}
<p class="links"><a href="/#/forgot-password" id="forgot-password-link">{{.T.forgot_password}}</a><br>
<a href="/#/forgot-login" id="forgot-login-link">{{.T.forgot_login}}</a></p>
</form>
</main>
</body>
</html>
`))

type loginView struct {
	Lang, OtherLang, OtherLangURL string
	T                             map[string]string
	ID, CSRF, Company, Login      string
	Action, Error                 string
}

// lang picks the page's language: an explicit choice, the request's
// ui_locales, then the browser's.
func lang(r *http.Request, a *authRequest) string {
	if l := r.FormValue("lang"); l == "fr" || l == "en" {
		return l
	}
	if a != nil {
		for _, t := range a.Request.UILocales {
			if b, _ := t.Base(); b.String() == "fr" || b.String() == "en" {
				return b.String()
			}
		}
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		l := strings.ToLower(strings.TrimSpace(part))
		if strings.HasPrefix(l, "fr") {
			return "fr"
		}
		if strings.HasPrefix(l, "en") {
			return "en"
		}
	}
	return "en"
}

func (p *Provider) render(w http.ResponseWriter, r *http.Request, status int, a *authRequest, errKey, errArg, login string) {
	v := loginView{Lang: lang(r, a), Action: LoginPath, Login: login}
	v.T = loginTexts[v.Lang]
	v.OtherLang = map[string]string{"en": "fr", "fr": "en"}[v.Lang]
	if a != nil {
		v.ID, v.Company = a.ID, a.Company()
		v.CSRF = p.csrfToken(w, r, a.ID)
		v.OtherLangURL = LoginPath + "?" + url.Values{"id": {a.ID}, "lang": {v.OtherLang}}.Encode()
	}
	if errKey != "" {
		v.Error = v.T[errKey]
		if errArg != "" {
			v.Error = strings.Replace(v.Error, "%s", errArg, 1)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	if err := loginPage.Execute(w, v); err != nil {
		p.logger.Error("oidc: render sign-in page", "err", err)
	}
}

// csrfToken returns the form token of request id, bound to the browser's
// CSRF cookie (set here when missing).
func (p *Provider) csrfToken(w http.ResponseWriter, r *http.Request, id string) string {
	c, err := r.Cookie(csrfCookieName)
	nonce := ""
	if err == nil && len(c.Value) >= 22 {
		nonce = c.Value
	} else {
		b := make([]byte, 18)
		_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
		nonce = base64.RawURLEncoding.EncodeToString(b)
		p.setCookie(w, r, &http.Cookie{Name: csrfCookieName, Value: nonce, Path: LoginPath})
	}
	return base64.RawURLEncoding.EncodeToString(p.keys.MAC(csrfPurpose, []byte(id+"|"+nonce)))
}

func (p *Provider) csrfOK(r *http.Request, id string) bool {
	c, err := r.Cookie(csrfCookieName)
	if err != nil || c.Value == "" {
		return false
	}
	want := base64.RawURLEncoding.EncodeToString(p.keys.MAC(csrfPurpose, []byte(id+"|"+c.Value)))
	return auth.Equal(want, r.PostFormValue("csrf"))
}

// LoginPage shows the sign-in page of an authorization request, or
// completes it at once for a browser with a live provider session
// (unless prompt=login, or the session is older than max_age).
func (p *Provider) LoginPage(w http.ResponseWriter, r *http.Request) {
	a, err := p.storage.authRequest(r.Context(), r.URL.Query().Get("id"))
	if err != nil {
		p.render(w, r, http.StatusBadRequest, nil, "expired", "", "")
		return
	}
	if a.IsDone {
		http.Redirect(w, r, CallbackPath+"?id="+url.QueryEscape(a.ID), http.StatusSeeOther)
		return
	}
	if !a.forcesLogin() {
		if c, err := r.Cookie(CookieName); err == nil {
			login, since, err := p.sessions.ProviderSession(r.Context(), c.Value)
			fresh := a.Request.MaxAge == nil || p.clock.Now().Sub(since) <= time.Duration(*a.Request.MaxAge)*time.Second
			if err == nil && fresh {
				p.finish(w, r, a, login, since)
				return
			}
		}
	}
	if a.noPrompt() {
		p.answerError(w, r, a, oidc.ErrLoginRequired().WithDescription("the user is not signed in"))
		return
	}
	p.render(w, r, http.StatusOK, a, "", "", a.Request.LoginHint)
}

// SignIn handles the sign-in form.
func (p *Provider) SignIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	id := r.PostFormValue("id")
	a, err := p.storage.authRequest(r.Context(), id)
	if err != nil || a.IsDone {
		p.render(w, r, http.StatusBadRequest, nil, "expired", "", "")
		return
	}
	if !p.csrfOK(r, a.ID) {
		p.render(w, r, http.StatusForbidden, a, "csrf", "", "")
		return
	}
	login, password := strings.TrimSpace(r.PostFormValue("login")), r.PostFormValue("password")
	if login == "" || password == "" {
		p.render(w, r, http.StatusBadRequest, a, "both_required", "", login)
		return
	}
	token, expires, err := p.sessions.SignInProvider(r.Context(), login, password)
	var throttled *commands.ThrottledError
	switch {
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", strconv.Itoa(int(throttled.RetryAfter.Seconds())))
		p.render(w, r, http.StatusTooManyRequests, a, "throttled", strconv.Itoa(int(throttled.RetryAfter.Seconds())), login)
		return
	case errors.Is(err, commands.ErrBadCredentials):
		p.render(w, r, http.StatusUnauthorized, a, "bad_credentials", "", login)
		return
	case errors.Is(err, commands.ErrCaptchaRequired):
		p.render(w, r, http.StatusUnauthorized, a, "captcha_required", "", login)
		return
	case err != nil:
		p.logger.ErrorContext(r.Context(), "oidc: sign in", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.setCookie(w, r, &http.Cookie{Name: CookieName, Value: token, Path: "/", Expires: expires})
	realLogin, since, err := p.sessions.ProviderSession(r.Context(), token)
	if err != nil {
		p.logger.ErrorContext(r.Context(), "oidc: new session", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.finish(w, r, a, realLogin, since)
}

// finish answers the request for an authenticated user: granted, back to
// the relying party through the op package's callback (which issues the
// code); denied, access_denied. Either way the answer is an event.
func (p *Provider) finish(w http.ResponseWriter, r *http.Request, a *authRequest, login string, authTime time.Time) {
	_, err := p.signIns.Decide(r.Context(), a.Company(), login, a.GetClientID())
	if commands.IsNoConsoleAccount(err) {
		p.answerError(w, r, a, oidc.ErrAccessDenied().WithDescription("no console account on company account %s", a.Company()))
		return
	}
	if err == nil {
		err = p.storage.complete(r.Context(), a.ID, login, authTime)
	}
	if err != nil {
		p.logger.ErrorContext(r.Context(), "oidc: complete sign-in", "err", err)
		p.render(w, r, http.StatusBadRequest, nil, "expired", "", "")
		return
	}
	http.Redirect(w, r, CallbackPath+"?id="+url.QueryEscape(a.ID), http.StatusSeeOther)
}

// answerError sends the browser back to the relying party with an error,
// and forgets the request.
func (p *Provider) answerError(w http.ResponseWriter, r *http.Request, a *authRequest, e *oidc.Error) {
	if err := p.storage.drop(r.Context(), a.ID); err != nil {
		p.logger.ErrorContext(r.Context(), "oidc: drop auth request", "err", err)
	}
	op.AuthRequestError(w, r, a, e, p.op)
}
