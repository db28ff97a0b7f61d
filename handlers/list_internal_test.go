package handlers

import (
	"net/http/httptest"
	"testing"
	"time"

	"selfcare/projections/orders"
)

// A list of items that write their own JSON is answered with the same
// bytes and headers as one encoded by encoding/json.
func TestWriteListOfAppendersIsWriteJSONs(t *testing.T) {
	cursor := `eyJ2IjoiMjAyNi0xMS0yNCIsImsiOiJBQ01FIn0<&>`
	items := []orders.Order{
		{Ref: "ACME-2611-001", PlacedAt: time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC), Parameters: map[string]string{"region": "eu-west-0"}},
		{Ref: "ACME-2611-002 <é>", Names: map[string]string{"fr": "Réservation"}},
	}
	for _, c := range []struct {
		items []orders.Order
		next  *string
	}{{nil, nil}, {items, nil}, {items, &cursor}, {items[:1], new(string)}} {
		got, want := httptest.NewRecorder(), httptest.NewRecorder()
		writeList(got, c.items, c.next)
		list := c.items
		if list == nil {
			list = []orders.Order{}
		}
		writeJSON(want, 200, map[string]any{"items": list, "next_cursor": c.next})
		if got.Body.String() != want.Body.String() {
			t.Errorf("body:\n got %s\nwant %s", got.Body, want.Body)
		}
		if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") ||
			got.Header().Get("Cache-Control") != want.Header().Get("Cache-Control") {
			t.Errorf("status %d %v, want %d %v", got.Code, got.Header(), want.Code, want.Header())
		}
	}
}
