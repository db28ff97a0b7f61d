package handlers

import (
	"encoding/csv"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/eventstore"
	"selfcare/projections/audit"
)

// AuditAPI serves auditors: role changes with before → after, the replay
// of any stream, and the verification of the event log's hash chain.
type AuditAPI struct {
	Store   *eventstore.Store
	Queries audit.Queries
	Pool    *pgxpool.Pool
	// ChainKey is the audit chain's HMAC key (audit.ChainKeyPurpose).
	ChainKey []byte
}

// Routes registers the audit endpoints.
func (f AuditAPI) Routes(r *Routes) {
	r.Handle("GET /api/v1/audit/role-changes", f.roleChanges)
	r.Handle("GET /api/v1/audit/streams/{stream}/events", f.streamEvents)
	r.Handle("GET /api/v1/audit/integrity", f.integrity)
}

func (f AuditAPI) roleChanges(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filter, err := audit.ParseRoleChangeFilter(q)
	if err != nil {
		fail(w, r, err)
		return
	}
	if m := memberFrom(r.Context()); m.contractID != "" {
		// A users manager: the authorizer checked ?contract= is theirs.
		filter.Contract = m.contractID
	}
	asCSV, err := wantsCSV(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	if asCSV {
		f.roleChangesCSV(w, r, filter)
		return
	}
	items, next, err := f.Queries.RoleChanges(r.Context(), filter, q)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeList(w, items, next)
}

// wantsCSV reports whether the client asked for CSV: ?format=csv, or an
// Accept header preferring text/csv when no format is given.
func wantsCSV(r *http.Request) (bool, error) {
	switch r.URL.Query().Get("format") {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
	default:
		return false, domain.Invalid("format", "invalid", "format is json or csv")
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "text/csv":
			return true, nil
		case "application/json", "*/*":
			return false, nil
		}
	}
	return false, nil
}

// roleChangesCSV streams every matching role change (all pages) as CSV.
// Errors before the first row are problems; after it, the connection is
// cut so the client sees a truncated download, never a short but
// well-formed file.
func (f AuditAPI) roleChangesCSV(w http.ResponseWriter, r *http.Request, filter audit.RoleChangeFilter) {
	cw := csv.NewWriter(w)
	started := false
	n := 0
	err := f.Queries.EachRoleChange(r.Context(), filter, r.URL.Query(), func(c audit.RoleChange) error {
		if !started {
			startCSV(w, cw)
			started = true
		}
		if err := cw.Write(roleChangeRecord(c)); err != nil {
			return err
		}
		if n++; n%500 == 0 {
			cw.Flush()
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush()
			}
		}
		return cw.Error()
	})
	if err != nil && !started {
		fail(w, r, err)
		return
	}
	if err != nil {
		loggerFrom(r.Context()).Error("role changes export cut short", "err", err, "rows", n)
		panic(http.ErrAbortHandler)
	}
	if !started {
		startCSV(w, cw)
	}
	cw.Flush()
}

func startCSV(w http.ResponseWriter, cw *csv.Writer) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="role-changes.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = cw.Write(roleChangeHeader)
}

// roleChangeHeader names the CSV columns: the item's fields, with before
// and after flattened to one column per section and one for console roles.
var roleChangeHeader = func() []string {
	h := []string{"position", "occurred_at", "contract", "user", "change", "actor", "actor_kind",
		"source_ip", "request_id", "correlation_id", "event_id"}
	for _, side := range []string{"before", "after"} {
		for _, s := range access.Sections {
			h = append(h, side+"_"+string(s))
		}
		h = append(h, side+"_console")
	}
	return h
}()

func roleChangeRecord(c audit.RoleChange) []string {
	rec := []string{
		strconv.FormatInt(c.Position, 10), c.OccurredAt.UTC().Format(time.RFC3339Nano), cell(c.Contract), cell(c.User),
		c.Change, cell(c.Actor), cell(c.ActorKind), cell(c.SourceIP), cell(c.RequestID), cell(c.CorrelationID), c.EventID.String(),
	}
	for _, side := range []*audit.RoleSet{c.Before, c.After} {
		if side == nil { // not on the contract: empty cells
			side = &audit.RoleSet{}
		}
		for _, s := range access.Sections {
			rec = append(rec, cell(side.Profiles[string(s)]))
		}
		rec = append(rec, cell(strings.Join(side.Console, " ")))
	}
	return rec
}

// cell defuses spreadsheet formulas: a text starting with = + - @ or a
// control character is prefixed with a quote (OWASP "CSV injection").
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (f AuditAPI) streamEvents(w http.ResponseWriter, r *http.Request) {
	stream := mux.Vars(r)["stream"]
	var after int64
	if s := r.URL.Query().Get("after_version"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			fail(w, r, domain.Invalid("after_version", "invalid", "after_version is a stream version: an integer, 0 or more"))
			return
		}
		after = n
	}
	recs, err := f.Store.Load(r.Context(), stream, after)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		fail(w, r, fmt.Errorf("%w: no stream %q", domain.ErrNotFound, stream))
		return
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	version := after
	if len(recs) > 0 {
		version = recs[len(recs)-1].Version
	} else if version, err = f.Store.Version(r.Context(), stream); err != nil {
		fail(w, r, err)
		return
	}
	if recs == nil {
		recs = []eventstore.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"stream": stream, "version": version, "events": recs})
}

func (f AuditAPI) integrity(w http.ResponseWriter, r *http.Request) {
	var anchor *audit.Anchor
	if s := r.URL.Query().Get("anchor"); s != "" {
		a, err := audit.ParseAnchor(s)
		if err != nil {
			fail(w, r, err)
			return
		}
		anchor = &a
	}
	rep, err := audit.Verify(r.Context(), f.Pool, f.ChainKey, anchor)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
