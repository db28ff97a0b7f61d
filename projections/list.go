package projections

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"selfcare/domain"
)

// List pagination bounds (API.md conventions).
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Column is a sortable column of a list: the SQL expression (never NULL)
// and its SQL type, used to compare cursor values.
type Column struct {
	Expr string
	Type string // "text", "bigint", "date", "timestamptz", "numeric", "boolean"
}

// ListSpec describes a list read model: which API fields sort it, which
// expressions a search matches, and the unique key that breaks ties.
type ListSpec struct {
	Sortable    map[string]Column
	DefaultSort string // an API field, "-field" for descending
	Search      []string
	Key         Column
}

// ListParams is a parsed list request: ?q=&sort=&limit=&cursor=.
type ListParams struct {
	Q      string
	Sort   string
	Desc   bool
	Limit  int
	cursor *listCursor
}

type listCursor struct {
	Sort  string `json:"s"`
	Desc  bool   `json:"d"`
	Value string `json:"v"`
	Key   string `json:"k"`
}

// ParseList reads the list parameters of a request. Bad values come back
// as a *domain.ValidationError naming the parameter.
func (s ListSpec) ParseList(q url.Values) (ListParams, error) {
	var v domain.ValidationError
	p := ListParams{Q: strings.TrimSpace(q.Get("q")), Limit: DefaultLimit}
	field := q.Get("sort")
	if field == "" {
		field = s.DefaultSort
	}
	if strings.HasPrefix(field, "-") {
		p.Desc, field = true, field[1:]
	}
	col, ok := s.Sortable[field]
	if !ok {
		v.Add("sort", "invalid", "sort by one of %s (prefix with - for descending)", strings.Join(s.sortNames(), ", "))
	}
	p.Sort = field
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxLimit {
			v.Add("limit", "invalid", "limit is a number from 1 to %d", MaxLimit)
		}
		p.Limit = n
	}
	if len(p.Q) > 200 {
		v.Add("q", "too_long", "a search is at most 200 characters")
	}
	if c := q.Get("cursor"); c != "" {
		cur, err := decodeCursor(c)
		if err != nil || cur.Sort != p.Sort || cur.Desc != p.Desc || !ok ||
			!validValue(col.Type, cur.Value) || !validValue(s.Key.Type, cur.Key) {
			v.Add("cursor", "invalid", "the cursor does not belong to this list and sort; start again without it")
		}
		p.cursor = cur
	}
	return p, v.Err()
}

func (s ListSpec) sortNames() []string {
	names := make([]string, 0, len(s.Sortable))
	for n := range s.Sortable {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Query is the SQL of one page: append Where to the view's own conditions
// (it starts with " AND "), then OrderLimit; Args continue the caller's.
type Query struct {
	Where      string
	OrderLimit string
	Args       []any
}

// Build returns the page's SQL pieces; the caller's own arguments are
// $1..$n (n = argCount), the search and cursor use the next ones. It asks
// for one row more than the limit, to know whether a next page exists.
func (s ListSpec) Build(p ListParams, argCount int) Query {
	var q Query
	arg := func(v any) string {
		q.Args = append(q.Args, v)
		return "$" + strconv.Itoa(argCount+len(q.Args))
	}
	if p.Q != "" && len(s.Search) > 0 {
		pat := arg("%" + escapeLike(p.Q) + "%")
		parts := make([]string, len(s.Search))
		for i, e := range s.Search {
			parts[i] = e + " ILIKE " + pat
		}
		q.Where += " AND (" + strings.Join(parts, " OR ") + ")"
	}
	col := s.Sortable[p.Sort]
	dir, cmp := "ASC", ">"
	if p.Desc {
		dir, cmp = "DESC", "<"
	}
	if p.cursor != nil {
		q.Where += fmt.Sprintf(" AND (%s, %s) %s (%s::%s, %s::%s)", col.Expr, s.Key.Expr, cmp,
			arg(p.cursor.Value), col.Type, arg(p.cursor.Key), s.Key.Type)
	}
	q.OrderLimit = fmt.Sprintf(" ORDER BY %s %s, %s %s LIMIT %d", col.Expr, dir, s.Key.Expr, dir, p.Limit+1)
	return q
}

// SortColumns returns the SQL expressions a row must select, last in its
// column list, for Page to build the next cursor: the sort value and the
// key, both as text.
func (s ListSpec) SortColumns(p ListParams) string {
	return fmt.Sprintf("(%s)::text, (%s)::text", s.Sortable[p.Sort].Expr, s.Key.Expr)
}

// Page trims the extra row Build asked for and returns the cursor of the
// next page (nil on the last page). sortKeys gives, for each row, the two
// texts selected with SortColumns.
func Page[T any](p ListParams, rows []T, sortKeys func(T) (value, key string)) ([]T, *string) {
	if len(rows) <= p.Limit {
		return rows, nil
	}
	rows = rows[:p.Limit]
	v, k := sortKeys(rows[len(rows)-1])
	c := encodeCursor(listCursor{Sort: p.Sort, Desc: p.Desc, Value: v, Key: k})
	return rows, &c
}

func encodeCursor(c listCursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*listCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	var c listCursor
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// validValue reports whether text is a valid literal of the SQL type, so
// that a forged cursor is a 400, not a failed cast.
func validValue(typ, text string) bool {
	switch typ {
	case "bigint", "integer":
		_, err := strconv.ParseInt(text, 10, 64)
		return err == nil
	case "numeric":
		_, err := strconv.ParseFloat(text, 64)
		return err == nil && !strings.ContainsAny(text, "eEiInN")
	case "date":
		_, err := time.Parse(time.DateOnly, text)
		return err == nil
	case "timestamptz":
		for _, layout := range []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999-07:00", time.RFC3339Nano} {
			if _, err := time.Parse(layout, text); err == nil {
				return true
			}
		}
		return false
	case "boolean":
		return text == "true" || text == "false"
	default:
		return utf8.ValidString(text) && !strings.ContainsRune(text, 0)
	}
}
