package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"selfcare/commands"
	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/billing"
	"selfcare/domain/money"
	"selfcare/domain/subscription"
	"selfcare/internal/clock"
	rmbilling "selfcare/projections/billing"
	"selfcare/projections/members"
)

// InvoicesAPI serves a contract's invoices section (the invoice-reception
// contact for visitors; invoices, usage reports and pre-invoices for
// managers) and the back office's usage reports and billing runs.
type InvoicesAPI struct {
	Billing    *commands.Billing
	Invoices   rmbilling.Queries
	Statements rmbilling.Statements
	Members    members.Queries
	Clock      clock.Clock
}

// Routes registers the invoice and billing endpoints.
func (f InvoicesAPI) Routes(r *Routes) {
	r.Handle("GET /api/v1/contracts/{cid}/invoices", f.list)
	r.Handle("GET /api/v1/contracts/{cid}/invoices/{id}", f.get)
	r.Handle("GET /api/v1/contracts/{cid}/usage-reports", f.usageReports)
	r.Handle("POST /api/v1/admin/contracts/{cid}/usage", f.reportUsage)
	r.Handle("POST /api/v1/admin/billing-runs", f.run)
}

// list answers the invoices section: everyone allowed in sees the
// invoice-reception contact; only invoices managers see invoices and
// amounts (SPEC §2).
func (f InvoicesAPI) list(w http.ResponseWriter, r *http.Request) {
	m := memberFrom(r.Context())
	c, err := f.Members.Contract(r.Context(), m.contractID)
	if err != nil {
		fail(w, r, err)
		return
	}
	out := map[string]any{"contact": c.InvoiceContact}
	if !m.roles.Can(access.CanSeeInvoices) {
		out["items"], out["next_cursor"] = []rmbilling.Invoice{}, nil
		writeJSON(w, http.StatusOK, out)
		return
	}
	items, next, err := f.Invoices.Invoices(r.Context(), m.contractID, r.URL.Query())
	if err != nil {
		fail(w, r, err)
		return
	}
	last, ok, err := f.Invoices.Last(r.Context(), m.contractID)
	if err != nil {
		fail(w, r, err)
		return
	}
	if ok {
		out["last_invoice"] = last
	}
	if items == nil {
		items = []rmbilling.Invoice{}
	}
	out["items"], out["next_cursor"] = items, next
	writeJSON(w, http.StatusOK, out)
}

func (f InvoicesAPI) get(w http.ResponseWriter, r *http.Request) {
	inv, err := f.Invoices.Invoice(r.Context(), memberFrom(r.Context()).contractID, mux.Vars(r)["id"])
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, inv)
}

func (f InvoicesAPI) usageReports(w http.ResponseWriter, r *http.Request) {
	today := subscription.DateOf(f.Clock.Now())
	items, next, err := f.Statements.List(r.Context(), memberFrom(r.Context()).contractID, today, r.URL.Query())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeList(w, items, next)
}

// maxUsageLines bounds a usage report.
const maxUsageLines = 10000

func (f InvoicesAPI) reportUsage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Period string `json:"period"`
		Lines  []struct {
			Item      string          `json:"item"`
			Quantity  json.RawMessage `json:"quantity"`
			UnitPrice json.RawMessage `json:"unit_price"`
		} `json:"lines"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	var v domain.ValidationError
	period, err := billing.ParsePeriod(in.Period)
	v.Merge("", err)
	if len(in.Lines) > maxUsageLines {
		v.Add("lines", "too_many", "at most %d lines per report", maxUsageLines)
	}
	lines := make([]billing.UsageLine, len(in.Lines))
	for i, l := range in.Lines {
		field := fmt.Sprintf("lines[%d].", i)
		lines[i].Item = l.Item
		if len(l.Quantity) == 0 || string(l.Quantity) == "null" {
			v.Add(field+"quantity", "required", "a quantity is required")
		} else if err := unmarshalStrict(l.Quantity, &lines[i].Quantity); err != nil {
			v.Add(field+"quantity", "invalid", "a quantity is a decimal number with at most %d decimals", billing.QuantityDecimals)
		}
		if len(l.UnitPrice) == 0 || string(l.UnitPrice) == "null" {
			v.Add(field+"unit_price", "required", "a unit price is required")
		} else if err := unmarshalObject(l.UnitPrice, &lines[i].UnitPrice); err != nil {
			v.Add(field+"unit_price", "invalid", `a unit price is {"amount":"0.0125","currency":"EUR"}, at most %d decimals`, money.UnitPriceDecimals)
		}
	}
	cid := mux.Vars(r)["cid"]
	cmd := billing.ReportUsage{ContractID: cid, Period: period, Lines: lines}
	if len(v.Errors) > 0 {
		// Report the domain's objections to the lines that did decode
		// (missing items, negative numbers) along with the decoding
		// errors, so that one answer lists every problem.
		var dry billing.Ledger
		if _, err := dry.ReportUsage(cmd, f.Clock.Now()); err != nil {
			mergeNew(&v, err)
		}
		fail(w, r, &v)
		return
	}
	if err := f.Billing.ReportUsage(r.Context(), cmd); err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/contracts/"+cid+"/usage-reports")
	writeJSON(w, http.StatusCreated, map[string]any{"contract_id": cid, "period": period, "lines": lines})
}

// unmarshalObject decodes a JSON object into v; anything else (a bare
// number or string where money is expected) is an error.
func unmarshalObject(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return errors.New("not a JSON object")
	}
	return unmarshalStrict(raw, v)
}

func (f InvoicesAPI) run(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Period string `json:"period"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	p, err := billing.ParsePeriod(in.Period)
	if err != nil {
		fail(w, r, err)
		return
	}
	res, err := f.Billing.Run(r.Context(), p)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// mergeNew adds the field errors of err that v does not already have for
// the same field.
func mergeNew(v *domain.ValidationError, err error) {
	var other domain.ValidationError
	if !other.Merge("", err) {
		return
	}
	have := map[string]bool{}
	for _, fe := range v.Errors {
		have[fe.Field] = true
	}
	for _, fe := range other.Errors {
		if !have[fe.Field] {
			v.Errors = append(v.Errors, fe)
		}
	}
}
