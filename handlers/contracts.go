package handlers

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/gorilla/mux"

	"selfcare/commands"
	"selfcare/domain/access"
	"selfcare/domain/contract"
	"selfcare/projections/members"
)

// ContractsAPI serves contracts: their creation by the back office, their
// summary and the caller's rights on them.
type ContractsAPI struct {
	Contracts *commands.Contracts
	Members   members.Queries
	// DocumentSpaceURL is the document space link shown to contract managers.
	DocumentSpaceURL string
}

// Routes registers the contract endpoints.
func (f ContractsAPI) Routes(r *Routes) {
	r.Handle("POST /api/v1/admin/contracts", f.create)
	r.Handle("GET /api/v1/contracts/{cid}", f.get)
	r.Handle("GET /api/v1/contracts/{cid}/rights", f.rights)
	r.Handle("GET /api/v1/me/contracts", f.mine)
}

func (f ContractsAPI) create(w http.ResponseWriter, r *http.Request) {
	var in contract.CreateInput
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	created, err := f.Contracts.Create(r.Context(), in)
	if err != nil {
		fail(w, r, err)
		return
	}
	readOwnWrites(r, members.Name)
	c, err := f.Members.Contract(r.Context(), created.ID)
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/contracts/"+created.ID)
	writeJSON(w, http.StatusCreated, map[string]any{
		"id":                created.ID,
		"platform_id":       created.PlatformID,
		"name":              c.Name,
		"offer":             c.Offer,
		"created_on":        c.CreatedOn,
		"company":           c.Company,
		"invoice_contact":   c.InvoiceContact,
		"support_contact":   c.SupportContact,
		"referent_login":    created.ReferentLogin,
		"referent_existing": created.ExistingIdentity,
	})
}

func (f ContractsAPI) get(w http.ResponseWriter, r *http.Request) {
	m := memberFrom(r.Context())
	c, err := f.Members.Contract(r.Context(), mux.Vars(r)["cid"])
	if err != nil {
		fail(w, r, err)
		return
	}
	out := map[string]any{
		"id":          c.ID,
		"name":        c.Name,
		"offer":       c.Offer,
		"platform_id": c.PlatformID,
		"created_on":  c.CreatedOn,
	}
	if m.roles.Can(access.CanSeeCompany) {
		out["company"] = c.Company
		out["referent_login"] = c.ReferentLogin
	}
	if m.roles.Can(access.CanSeeDocumentSpace) && f.DocumentSpaceURL != "" {
		out["document_space_url"] = f.DocumentSpaceURL
	}
	writeJSON(w, http.StatusOK, out)
}

func (f ContractsAPI) rights(w http.ResponseWriter, r *http.Request) {
	m := memberFrom(r.Context())
	caps := []access.Capability{}
	for _, c := range access.Capabilities() {
		if m.roles.Can(c) {
			caps = append(caps, c)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"profiles":     m.roles.Profiles,
		"console":      m.roles.Console,
		"referent":     m.referent,
		"capabilities": caps,
	})
}

func (f ContractsAPI) mine(w http.ResponseWriter, r *http.Request) {
	items, next, err := f.Members.ContractsOf(r.Context(), principalFrom(r.Context()).login, r.URL.Query())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeList(w, items, next)
}

// writeList answers with a page of a list (API.md conventions).
func writeList[T any](w http.ResponseWriter, items []T, next *string) {
	if items == nil {
		items = []T{}
	}
	if _, ok := any(*new(T)).(jsonAppender); ok {
		writeAppended(w, items, next)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

// jsonAppender is a list item that writes its own JSON, the same bytes as
// encoding/json's (orders.Order).
type jsonAppender interface{ AppendJSON([]byte) []byte }

// writeAppended is writeList for items that write their own JSON: the
// same body as writeJSON's, without reflection.
func writeAppended[T any](w http.ResponseWriter, items []T, next *string) {
	buf := listBuffers.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= maxPooledList {
			listBuffers.Put(buf)
		}
	}()
	body := (*buf)[:0]
	body = append(body, `{"items":[`...)
	for i, item := range items {
		if i > 0 {
			body = append(body, ',')
		}
		body = any(item).(jsonAppender).AppendJSON(body)
	}
	body = append(body, `],"next_cursor":`...)
	if next == nil {
		body = append(body, "null"...)
	} else {
		c, _ := json.Marshal(*next) // a string always encodes
		body = append(body, c...)
	}
	body = append(body, "}\n"...)
	*buf = body
	writeBody(w, http.StatusOK, "application/json", body)
}

// listBuffers are writeAppended's bodies, reused: a page is written whole
// before the next request needs the buffer. One grown past maxPooledList
// (a page of long documents) is left to the collector.
var listBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

const maxPooledList = 1 << 20
