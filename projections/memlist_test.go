package projections

import (
	"cmp"
	"errors"
	"net/url"
	"testing"

	"selfcare/domain"
)

type fruit struct {
	name  string
	price int
}

var fruits = MemorySpec[fruit]{
	Sortable: map[string]func(a, b fruit) int{
		"name":  func(a, b fruit) int { return cmp.Compare(a.name, b.name) },
		"price": func(a, b fruit) int { return cmp.Compare(a.price, b.price) },
	},
	DefaultSort: "name",
	Key:         func(f fruit) string { return f.name },
}

func TestMemoryPagesCoverTheListOnceInOrder(t *testing.T) {
	basket := []fruit{{"pear", 3}, {"apple", 2}, {"kiwi", 3}, {"fig", 5}, {"lime", 1}}
	tests := []struct {
		sort string
		want []string
	}{
		{"", []string{"apple", "fig", "kiwi", "lime", "pear"}},
		{"-name", []string{"pear", "lime", "kiwi", "fig", "apple"}},
		{"price", []string{"lime", "apple", "kiwi", "pear", "fig"}}, // ties by key
		{"-price", []string{"fig", "pear", "kiwi", "apple", "lime"}},
	}
	for _, tt := range tests {
		var got []string
		q := url.Values{"sort": {tt.sort}, "limit": {"2"}}
		for pages := 0; ; pages++ {
			page, next, err := fruits.Page(basket, q)
			if err != nil || pages > 3 {
				t.Fatalf("sort %q: page %d: %v", tt.sort, pages, err)
			}
			for _, f := range page {
				got = append(got, f.name)
			}
			if next == nil {
				break
			}
			q.Set("cursor", *next)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("sort %q: %v, want %v", tt.sort, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("sort %q: %v, want %v", tt.sort, got, tt.want)
			}
		}
	}
}

func TestMemoryPagesRefuseBadParameters(t *testing.T) {
	basket := []fruit{{"pear", 3}, {"apple", 2}, {"kiwi", 3}}
	_, next, err := fruits.Page(basket, url.Values{"limit": {"1"}})
	if err != nil || next == nil {
		t.Fatal(next, err)
	}
	for name, q := range map[string]url.Values{
		"unknown sort":            {"sort": {"colour"}},
		"limit 0":                 {"limit": {"0"}},
		"limit too high":          {"limit": {"501"}},
		"garbage cursor":          {"cursor": {"%%%"}},
		"cursor of another sort":  {"sort": {"price"}, "cursor": {*next}},
		"cursor of a gone item":   {"cursor": {*next}, "_basket": {"without apple"}},
		"search beyond 200 bytes": {"q": {string(make([]byte, 201))}},
	} {
		b := basket
		if q.Has("_basket") {
			b = basket[:1] // apple, the cursor's item, is gone
		}
		var ve *domain.ValidationError
		if _, _, err := fruits.Page(b, q); !errors.As(err, &ve) {
			t.Errorf("%s: %v, want a validation error", name, err)
		}
	}
}
