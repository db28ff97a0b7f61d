package access

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"selfcare/domain"
)

// The predefined console roles every contract offers (SPEC §2): admin
// manages resources and user groups, power_user resources only, guest has
// read-only access.
const (
	RoleAdmin     = "admin"
	RolePowerUser = "power_user"
	RoleGuest     = "guest"
)

// PredefinedConsoleRoles lists the predefined console roles.
var PredefinedConsoleRoles = []string{RoleAdmin, RolePowerUser, RoleGuest}

// IsPredefinedConsoleRole reports whether name is, case-insensitively, one
// of the predefined console roles. A console group may not take such a name.
func IsPredefinedConsoleRole(name string) bool {
	for _, r := range PredefinedConsoleRoles {
		if strings.EqualFold(r, name) {
			return true
		}
	}
	return false
}

// ConsoleRoles is a set of console roles: predefined roles and console
// groups of the contract. Roles are cumulative. The set is kept sorted and
// without duplicates, so two sets compare with Equal and serialise the same.
// The zero value is the empty set.
type ConsoleRoles struct {
	names []string
}

// NewConsoleRoles validates the roles chosen for a user against the
// predefined roles and the console groups of the contract. A name matches
// case-insensitively and is kept in its canonical spelling (the predefined
// name, or the group's name as created); duplicates are merged. It returns a
// *domain.ValidationError with one problem per bad entry, on field
// "console[i]": "required" for an empty name, "unknown_role" for a name that
// is neither predefined nor a group of the contract.
func NewConsoleRoles(names []string, groups []string) (ConsoleRoles, error) {
	var v domain.ValidationError
	canonical := make([]string, 0, len(names))
	for i, n := range names {
		field := fmt.Sprintf("console[%d]", i)
		n = strings.TrimSpace(n)
		if n == "" {
			v.Add(field, "required", "a console role cannot be empty")
			continue
		}
		c, ok := canonicalRole(n, groups)
		if !ok {
			v.Add(field, "unknown_role", "%q is neither a predefined console role nor a console group of this contract", n)
			continue
		}
		canonical = append(canonical, c)
	}
	if err := v.Err(); err != nil {
		return ConsoleRoles{}, err
	}
	return RestoreConsoleRoles(canonical), nil
}

func canonicalRole(name string, groups []string) (string, bool) {
	for _, r := range PredefinedConsoleRoles {
		if strings.EqualFold(r, name) {
			return r, true
		}
	}
	for _, g := range groups {
		if strings.EqualFold(g, name) {
			return g, true
		}
	}
	return "", false
}

// RestoreConsoleRoles rebuilds a set from names already validated (stored
// events, read models): it sorts and de-duplicates but checks nothing else.
// Use NewConsoleRoles for input.
func RestoreConsoleRoles(names []string) ConsoleRoles {
	if len(names) == 0 {
		return ConsoleRoles{}
	}
	s := append([]string(nil), names...)
	sort.Strings(s)
	out := s[:1]
	for _, n := range s[1:] {
		if n != out[len(out)-1] {
			out = append(out, n)
		}
	}
	return ConsoleRoles{names: out}
}

// Names returns the roles, sorted; never nil.
func (c ConsoleRoles) Names() []string {
	return append([]string{}, c.names...)
}

// Len returns the number of roles.
func (c ConsoleRoles) Len() int { return len(c.names) }

// IsEmpty reports whether the set holds no role: such a user has no console
// account on the contract.
func (c ConsoleRoles) IsEmpty() bool { return len(c.names) == 0 }

// Has reports whether the set holds role name (exact spelling).
func (c ConsoleRoles) Has(name string) bool {
	i := sort.SearchStrings(c.names, name)
	return i < len(c.names) && c.names[i] == name
}

// Equal reports whether both sets hold the same roles.
func (c ConsoleRoles) Equal(o ConsoleRoles) bool {
	if len(c.names) != len(o.names) {
		return false
	}
	for i := range c.names {
		if c.names[i] != o.names[i] {
			return false
		}
	}
	return true
}

// String renders the set as "[a b]".
func (c ConsoleRoles) String() string { return "[" + strings.Join(c.names, " ") + "]" }

// MarshalJSON writes the set as a JSON array, [] when empty (never null).
func (c ConsoleRoles) MarshalJSON() ([]byte, error) { return json.Marshal(c.Names()) }

// UnmarshalJSON reads a JSON array (or null) with RestoreConsoleRoles.
func (c *ConsoleRoles) UnmarshalJSON(data []byte) error {
	var names []string
	if err := json.Unmarshal(data, &names); err != nil {
		return err
	}
	*c = RestoreConsoleRoles(names)
	return nil
}

// ConsoleRoleChoice is one console role a contract offers, as listed by
// GET /contracts/{cid}/console-roles.
type ConsoleRoleChoice struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "predefined" or "group"
}

// ConsoleRoleChoices lists the console roles a contract offers: the
// predefined roles, then its console groups in the order given.
func ConsoleRoleChoices(groups []string) []ConsoleRoleChoice {
	out := make([]ConsoleRoleChoice, 0, len(PredefinedConsoleRoles)+len(groups))
	for _, r := range PredefinedConsoleRoles {
		out = append(out, ConsoleRoleChoice{Name: r, Kind: "predefined"})
	}
	for _, g := range groups {
		out = append(out, ConsoleRoleChoice{Name: g, Kind: "group"})
	}
	return out
}
