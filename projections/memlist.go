package projections

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"selfcare/domain"
)

// MemorySpec describes a list held in memory (the catalog, a contract's
// billing periods) that follows the same conventions as ListSpec:
// ?sort=field or -field, ?limit=, ?cursor= and the {items, next_cursor}
// page. Searching is the caller's: it filters the items before Page.
type MemorySpec[T any] struct {
	// Sortable compares two items by an API field.
	Sortable    map[string]func(a, b T) int
	DefaultSort string
	// Key identifies an item uniquely; it breaks ties and anchors cursors.
	Key func(T) string
}

// Page sorts items as ?sort= asks and returns the page after ?cursor=,
// at most ?limit= long, with the cursor of the next page (nil on the last
// one). Bad parameters come back as a *domain.ValidationError, as with
// ListSpec.ParseList; so does a cursor whose item is no longer listed.
func (s MemorySpec[T]) Page(items []T, q url.Values) ([]T, *string, error) {
	var v domain.ValidationError
	field := q.Get("sort")
	if field == "" {
		field = s.DefaultSort
	}
	desc := strings.HasPrefix(field, "-")
	field = strings.TrimPrefix(field, "-")
	less, ok := s.Sortable[field]
	if !ok {
		names := make([]string, 0, len(s.Sortable))
		for n := range s.Sortable {
			names = append(names, n)
		}
		slices.Sort(names)
		v.Add("sort", "invalid", "sort by one of %s (prefix with - for descending)", strings.Join(names, ", "))
	}
	limit := DefaultLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxLimit {
			v.Add("limit", "invalid", "limit is a number from 1 to %d", MaxLimit)
		}
		limit = n
	}
	if len(strings.TrimSpace(q.Get("q"))) > 200 {
		v.Add("q", "too_long", "a search is at most 200 characters")
	}
	var after *listCursor
	if c := q.Get("cursor"); c != "" {
		cur, err := decodeCursor(c)
		if err != nil || cur.Sort != field || cur.Desc != desc {
			v.Add("cursor", "invalid", "the cursor does not belong to this list and sort; start again without it")
		}
		after = cur
	}
	if err := v.Err(); err != nil {
		return nil, nil, err
	}

	sorted := slices.Clone(items)
	slices.SortStableFunc(sorted, func(a, b T) int {
		c := cmp.Or(less(a, b), cmp.Compare(s.Key(a), s.Key(b)))
		if desc {
			return -c
		}
		return c
	})
	start := 0
	if after != nil {
		i := slices.IndexFunc(sorted, func(t T) bool { return s.Key(t) == after.Key })
		if i < 0 {
			return nil, nil, domain.Invalid("cursor", "invalid", "the cursor's item is no longer listed; start again without it")
		}
		start = i + 1
	}
	page := sorted[start:]
	if len(page) <= limit {
		return page, nil, nil
	}
	page = page[:limit]
	c := encodeCursor(listCursor{Sort: field, Desc: desc, Key: s.Key(page[len(page)-1])})
	return page, &c, nil
}
