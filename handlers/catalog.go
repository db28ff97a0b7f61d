package handlers

import (
	"cmp"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"selfcare/domain"
	"selfcare/domain/catalog"
	"selfcare/domain/money"
	"selfcare/projections"
	"selfcare/projections/members"
)

// DefaultManageServicesURL is where the "manage your services" link leads:
// the change-requests application of the corporate customer area.
const DefaultManageServicesURL = "https://espaceclient.orange-business.com/"

// CatalogAPI serves the catalog of services a contract can order.
type CatalogAPI struct {
	Catalog *catalog.Catalog
	Members members.Queries
	// ManageServicesURL is the "manage your services" link, shown to
	// members with a change-requests account (DefaultManageServicesURL if
	// empty).
	ManageServicesURL string
}

// Routes registers the catalog endpoints.
func (f CatalogAPI) Routes(r *Routes) {
	r.Handle("GET /api/v1/contracts/{cid}/catalog", f.list)
	r.Handle("GET /api/v1/contracts/{cid}/catalog/{service_code}", f.get)
}

// catalogList pages services in memory, like the read models' lists.
var catalogList = projections.MemorySpec[catalog.Service]{
	Sortable: map[string]func(a, b catalog.Service) int{
		"name":         func(a, b catalog.Service) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) },
		"category":     func(a, b catalog.Service) int { return cmp.Compare(a.Category, b.Category) },
		"from_price":   func(a, b catalog.Service) int { return a.FromPrice.Cmp(b.FromPrice) },
		"service_code": func(a, b catalog.Service) int { return cmp.Compare(a.Code, b.Code) },
	},
	DefaultSort: "category",
	Key:         func(s catalog.Service) string { return s.Code },
}

// service is a service as the API shows it.
type service struct {
	catalog.Service
	CategoryLabel string `json:"category_label"`
	// Price is the price of a one-off or free service.
	Price *money.Amount `json:"price,omitempty"`
	// Prices is a reservation's price table (detail only).
	Prices []catalog.Price `json:"prices,omitempty"`
}

func (f CatalogAPI) list(w http.ResponseWriter, r *http.Request) {
	lang, manage, err := f.context(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	q := r.URL.Query()
	category := q.Get("category")
	labels := f.categoryLabels(lang)
	if _, ok := labels[category]; category != "" && !ok {
		codes := make([]string, 0, len(labels))
		for c := range labels {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		fail(w, r, domain.Invalid("category", "invalid", "category is one of %s", strings.Join(codes, ", ")))
		return
	}
	found := f.Catalog.List(q.Get("q"), category)
	for i := range found {
		found[i] = found[i].In(lang)
	}
	page, next, err := catalogList.Page(found, q)
	if err != nil {
		fail(w, r, err)
		return
	}
	items := make([]service, len(page))
	for i, s := range page {
		items[i] = service{Service: s, CategoryLabel: labels[s.Category]}
	}
	out := map[string]any{
		"items":       items,
		"next_cursor": next,
		"categories":  f.Catalog.Categories(lang),
		"language":    lang,
	}
	if manage != "" {
		out["manage_services_url"] = manage
		out["links"] = map[string]string{"manage_services": manage}
	}
	writeJSON(w, http.StatusOK, out)
}

func (f CatalogAPI) get(w http.ResponseWriter, r *http.Request) {
	lang, manage, err := f.context(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	s, err := f.Catalog.Get(mux.Vars(r)["service_code"])
	if err != nil {
		fail(w, r, err)
		return
	}
	s = s.In(lang)
	out := service{Service: s, CategoryLabel: f.categoryLabels(lang)[s.Category], Prices: s.Prices()}
	if s.Kind != catalog.KindReservation {
		price := s.FromPrice
		out.Price = &price
	}
	resp := struct {
		service
		ManageServicesURL string            `json:"manage_services_url,omitempty"`
		Links             map[string]string `json:"links,omitempty"`
		Language          string            `json:"language"`
	}{service: out, ManageServicesURL: manage, Language: lang}
	if manage != "" {
		resp.Links = map[string]string{"manage_services": manage}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (f CatalogAPI) categoryLabels(lang string) map[string]string {
	labels := map[string]string{}
	for _, c := range f.Catalog.Categories(lang) {
		labels[c.Code] = c.Label
	}
	return labels
}

// context returns the language to show the catalog in and the "manage
// your services" link if the caller has a change-requests account.
func (f CatalogAPI) context(r *http.Request) (lang, manageURL string, err error) {
	m := memberFrom(r.Context())
	own, changeRequests, err := f.Members.ServicesContext(r.Context(), m.contractID, principalFrom(r.Context()).login)
	if err != nil {
		return "", "", err
	}
	if changeRequests {
		manageURL = cmp.Or(f.ManageServicesURL, DefaultManageServicesURL)
	}
	return preferredLanguage(r, own), manageURL, nil
}

// preferredLanguage picks "fr" or "en": the first of them the request's
// Accept-Language prefers, else fallback (the user's own language), else
// English.
func preferredLanguage(r *http.Request, fallback string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		lang, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if lang != "fr" && lang != "en" {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if q > bestQ {
			best, bestQ = lang, q
		}
	}
	switch {
	case best != "":
		return best
	case fallback == "fr":
		return "fr"
	default:
		return "en"
	}
}
