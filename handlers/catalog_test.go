package handlers_test

import (
	"net/http"
	"testing"

	"selfcare/internal/testkit"
)

func catalogPath(cid string) string { return "/api/v1/contracts/" + cid + "/catalog" }

func TestTheCatalogIsSearchedFilteredSortedAndPaged(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Acme")
	visitor := env.DeclareMember(c.ID, map[string]string{"services": "visitor"})
	none := env.DeclareMember(c.ID, map[string]string{"services": "none"})
	testkit.Expect(t, env.Get(catalogPath(c.ID), none.Token), http.StatusForbidden)

	codes := func(query string, header map[string]string) ([]string, map[string]any) {
		t.Helper()
		r := testkit.Expect(t, env.Do(testkit.Request{Method: http.MethodGet, Path: catalogPath(c.ID) + query, Token: visitor.Token, Header: header}), http.StatusOK)
		body := r.Map(t)
		var out []string
		for _, it := range items(t, r) {
			out = append(out, it["service_code"].(string))
		}
		return out, body
	}
	all, body := codes("", nil)
	if len(all) < 7 || body["next_cursor"] != nil || len(body["categories"].([]any)) != 5 {
		t.Fatalf("the whole catalog = %v, %v", all, body)
	}
	if _, ok := body["manage_services_url"]; ok {
		t.Errorf("the manage-your-services link shows without a change-requests account")
	}
	first := items(t, testkit.Expect(t, env.Get(catalogPath(c.ID)+"?q=reservation", visitor.Token), http.StatusOK))
	if len(first) != 1 || first[0]["service_code"] != "AD135" || amount(t, first[0]["from_price"]) != "4.97" ||
		first[0]["name"] != "Elastic Cloud Server flavor reservation" || first[0]["category"] != "compute" {
		t.Errorf("search 'reservation' = %v", first)
	}
	if got, _ := codes("?q=gabarit", nil); len(got) != 1 || got[0] != "AD135" {
		t.Errorf("a French word finds the service too: %v", got)
	}
	if got, _ := codes("?category=support&sort=-from_price", nil); len(got) != 3 || got[0] != "PS108" || got[1] != "PS104" || got[2] != "PS001" {
		t.Errorf("support services by price, highest first = %v", got)
	}
	if got, _ := codes("?sort=service_code", nil); got[0] != "AD135" {
		t.Errorf("by code = %v", got)
	}
	// Pages of two, in name order, cover the catalog once.
	var paged []string
	query := "?sort=name&limit=2"
	for range 10 {
		got, body := codes(query, nil)
		paged = append(paged, got...)
		next, _ := body["next_cursor"].(string)
		if next == "" {
			break
		}
		query = "?sort=name&limit=2&cursor=" + next
	}
	if len(paged) != len(all) {
		t.Errorf("pages = %v, want the %d services once", paged, len(all))
	}
	for _, bad := range []string{"?category=food", "?sort=colour", "?limit=501", "?sort=name&cursor=garbage"} {
		testkit.Expect(t, env.Get(catalogPath(c.ID)+bad, visitor.Token), http.StatusBadRequest)
	}

	// French on request.
	_, fr := codes("?q=AD135", map[string]string{"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
	if it := fr["items"].([]any)[0].(map[string]any); it["name"] != "Réservation d'un gabarit Elastic Cloud Server" || it["category_label"] != "Calcul" || fr["language"] != "fr" {
		t.Errorf("in French: %v", fr)
	}

	// The detail has the parameters and the price table.
	detail := testkit.Expect(t, env.Get(catalogPath(c.ID)+"/AD135", visitor.Token), http.StatusOK).Map(t)
	params := detail["parameters"].([]any)
	if detail["kind"] != "reservation" || len(params) != 4 || detail["description"] == "" {
		t.Fatalf("AD135 = %v", detail)
	}
	found := false
	for _, p := range detail["prices"].([]any) {
		p := p.(map[string]any)
		if p["flavor"] == "c2.large" && p["duration_months"] == float64(24) && p["upfront"] == true {
			found = amount(t, p["initial_payment"]) == "513.02" && amount(t, p["monthly_price"]) == "24.39" &&
				p["subscription_name"] == "Reservation c2.large 2 years with upfront"
		}
	}
	if !found {
		t.Errorf("the price table lacks c2.large 2 years with upfront at €513.02 + €24.39/month: %v", detail["prices"])
	}
	pack := testkit.Expect(t, env.Get(catalogPath(c.ID)+"/PS104", visitor.Token), http.StatusOK).Map(t)
	if amount(t, pack["price"]) != "450.00" || pack["prices"] != nil {
		t.Errorf("PS104 = %v", pack)
	}
	testkit.Expect(t, env.Get(catalogPath(c.ID)+"/XX999", visitor.Token), http.StatusNotFound)

	// The manage-your-services link, once the back office says the
	// member has a change-requests account.
	env.SetExternalAccounts(c.ID, visitor.Login, false, true)
	if _, body := codes("", nil); body["manage_services_url"] == nil || body["links"].(map[string]any)["manage_services"] != body["manage_services_url"] {
		t.Errorf("no manage-your-services link for a member with a change-requests account: %v", body)
	}
	if d := testkit.Expect(t, env.Get(catalogPath(c.ID)+"/AD135", visitor.Token), http.StatusOK).Map(t); d["manage_services_url"] == nil {
		t.Errorf("no manage-your-services link on the detail")
	}
}
