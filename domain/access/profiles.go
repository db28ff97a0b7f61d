// Package access holds the rights model of a contract (SPEC §2): sections,
// the profiles each section accepts, console roles, and what each one allows.
package access

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"selfcare/domain"
)

// Section is a part of the customer area of a contract.
type Section string

// The sections of a contract, as named in the API.
const (
	SectionContract      Section = "contract"
	SectionDashboard     Section = "dashboard"
	SectionOrders        Section = "orders"
	SectionSubscriptions Section = "subscriptions"
	SectionServices      Section = "services"
	SectionInvoices      Section = "invoices"
	SectionSupport       Section = "support"
	SectionUsers         Section = "users"
)

// Sections lists every section in the order the API and the UI show them.
var Sections = []Section{
	SectionContract, SectionDashboard, SectionOrders, SectionSubscriptions,
	SectionServices, SectionInvoices, SectionSupport, SectionUsers,
}

// Profile is what a user may do in one section.
type Profile string

// The profiles. Not every section accepts every profile: see
// Section.Profiles.
const (
	None           Profile = "none"
	Visitor        Profile = "visitor"
	ConsoleManager Profile = "console_manager"
	Manager        Profile = "manager"
)

// sectionProfiles is SPEC §2's "profiles" column: the profiles each section
// accepts, weakest first. The contract section has no "none": every member
// sees at least the summary of the contract they are declared on.
var sectionProfiles = map[Section][]Profile{
	SectionContract:      {Visitor, Manager},
	SectionDashboard:     {None, Visitor},
	SectionOrders:        {None, Visitor},
	SectionSubscriptions: {None, Visitor, Manager},
	SectionServices:      {None, Visitor, Manager},
	SectionInvoices:      {None, Visitor, Manager},
	SectionSupport:       {None, Visitor, Manager},
	SectionUsers:         {None, Visitor, ConsoleManager, Manager},
}

// ParseSection returns the section named s, or false.
func ParseSection(s string) (Section, bool) {
	sec := Section(s)
	_, ok := sectionProfiles[sec]
	return sec, ok
}

// Profiles returns the profiles the section accepts, weakest first.
func (s Section) Profiles() []Profile {
	return append([]Profile(nil), sectionProfiles[s]...)
}

// Accepts reports whether profile p may be given on section s.
func (s Section) Accepts(p Profile) bool {
	for _, q := range sectionProfiles[s] {
		if q == p {
			return true
		}
	}
	return false
}

func (s Section) index() int {
	for i, t := range Sections {
		if t == s {
			return i
		}
	}
	return -1
}

// Satisfies reports whether a holder of profile p meets a requirement of
// profile min. The profiles form a partial order, not a line:
//
//	none < visitor < manager
//	none < console_manager < manager
//
// visitor and console_manager are not comparable: on the users section a
// visitor may see the customer-area users list but not add console users,
// and a console manager the opposite (SPEC §2, guide §5.9.1). Manager meets
// every requirement and anything meets "none".
func (p Profile) Satisfies(min Profile) bool {
	switch {
	case min == None || min == "":
		return true
	case p == min:
		return true
	case p == Manager:
		return min == Visitor || min == ConsoleManager
	default:
		return false
	}
}

// Profiles gives one profile per section. Build one with DefaultProfiles,
// ReferentProfiles, ParseProfiles or With; a value built that way is valid.
// The zero value holds no profile at all (IsZero) and allows nothing.
// Profiles values are comparable with ==.
type Profiles struct {
	p [8]Profile // indexed like Sections
}

// DefaultProfiles are the profiles of a new user when the form leaves a
// section untouched: manager on contract, none elsewhere (SPEC §2).
func DefaultProfiles() Profiles {
	var ps Profiles
	for i, s := range Sections {
		ps.p[i] = None
		if s == SectionContract {
			ps.p[i] = Manager
		}
	}
	return ps
}

// ReferentProfiles are the profiles of a contract's referent user: the
// strongest profile of every section, which is manager everywhere it exists
// and visitor on dashboard and orders (SPEC §2).
func ReferentProfiles() Profiles {
	var ps Profiles
	for i, s := range Sections {
		all := sectionProfiles[s]
		ps.p[i] = all[len(all)-1]
	}
	return ps
}

// ConsoleOnlyProfiles are the customer-area profiles of a user added as a
// console user: none wherever a section has "none", and visitor on the
// contract section, which has no "none" (the weakest it accepts: the
// summary of the contract, never the company block).
func ConsoleOnlyProfiles() Profiles {
	var ps Profiles
	for i, s := range Sections {
		ps.p[i] = sectionProfiles[s][0]
	}
	return ps
}

// ParseProfiles reads profiles keyed by section name, as the API sends
// them. Sections left out take DefaultProfiles. See ParseProfilesOver.
func ParseProfiles(m map[string]string) (Profiles, error) {
	return ParseProfilesOver(DefaultProfiles(), m)
}

// ParseProfilesOver reads profiles keyed by section name over base: the
// sections left out keep their profile in base. It returns a
// *domain.ValidationError listing every problem, with fields named
// "profiles.<section>": code "unknown_section" for a section that does not
// exist, "invalid" for a profile the section does not accept.
func ParseProfilesOver(base Profiles, m map[string]string) (Profiles, error) {
	if base.IsZero() {
		base = DefaultProfiles()
	}
	var v domain.ValidationError
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // stable error order
	for _, k := range keys {
		s, ok := ParseSection(k)
		if !ok {
			v.Add("profiles."+k, "unknown_section", "unknown section %q", k)
			continue
		}
		p := Profile(m[k])
		if !s.Accepts(p) {
			v.Add("profiles."+k, "invalid", "section %s accepts %s, not %q", s, profileList(s), m[k])
			continue
		}
		base.p[s.index()] = p
	}
	if err := v.Err(); err != nil {
		return Profiles{}, err
	}
	return base, nil
}

func profileList(s Section) string {
	names := make([]string, 0, 4)
	for _, p := range sectionProfiles[s] {
		names = append(names, string(p))
	}
	return strings.Join(names, "|")
}

// With returns a copy of ps with profile p on section s. It returns a
// *domain.ValidationError ("profiles.<section>", "invalid" or
// "unknown_section") if s does not accept p.
func (ps Profiles) With(s Section, p Profile) (Profiles, error) {
	return ParseProfilesOver(ps, map[string]string{string(s): string(p)})
}

// IsZero reports whether ps holds no profile at all (the zero value).
func (ps Profiles) IsZero() bool { return ps == Profiles{} }

// Get returns the profile on section s; None for the zero value or an
// unknown section.
func (ps Profiles) Get(s Section) Profile {
	i := s.index()
	if i < 0 || ps.p[i] == "" {
		return None
	}
	return ps.p[i]
}

// Allows reports whether the profile on section s meets a requirement of
// min, in the sense of Profile.Satisfies. The zero Profiles allows nothing.
func (ps Profiles) Allows(s Section, min Profile) bool {
	if ps.IsZero() {
		return false
	}
	return ps.Get(s).Satisfies(min)
}

// Map returns the profiles keyed by section name.
func (ps Profiles) Map() map[string]string {
	m := make(map[string]string, len(Sections))
	for _, s := range Sections {
		m[string(s)] = string(ps.Get(s))
	}
	return m
}

// String renders the profiles compactly, for logs and test failures.
func (ps Profiles) String() string {
	parts := make([]string, len(Sections))
	for i, s := range Sections {
		parts[i] = fmt.Sprintf("%s=%s", s, ps.Get(s))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// MarshalJSON writes the profiles as an object with every section, in
// the order of Sections; the zero value is null.
func (ps Profiles) MarshalJSON() ([]byte, error) {
	if ps.IsZero() {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, s := range Sections {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%q", s, ps.Get(s))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads profiles the way ParseProfiles does, so a decoded
// value is as valid as a constructed one; null gives the zero value.
func (ps *Profiles) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*ps = Profiles{}
		return nil
	}
	// The stored form, an object of plain strings naming sections and
	// profiles that exist, is read without a map (replaying a long
	// membership decodes thousands); anything else, errors included, the
	// way ParseProfiles reads it.
	fast := DefaultProfiles()
	if eachPlainString(data, func(k, v []byte) bool {
		s, ok := ParseSection(string(k))
		if !ok {
			return false
		}
		for _, p := range sectionProfiles[s] {
			if string(p) == string(v) {
				fast.p[s.index()] = p
				return true
			}
		}
		return false
	}) {
		*ps = fast
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	parsed, err := ParseProfiles(m)
	if err != nil {
		return err
	}
	*ps = parsed
	return nil
}

// eachPlainString hands fn each member of data, a JSON object whose
// names and values are strings of printable ASCII without escapes, in
// order, and reports whether data was such an object and fn accepted
// every member. It reads nothing else: the caller then decodes data
// another way.
func eachPlainString(data []byte, fn func(k, v []byte) bool) bool {
	i := 0
	ws := func() {
		for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
			i++
		}
	}
	str := func() ([]byte, bool) {
		if i >= len(data) || data[i] != '"' {
			return nil, false
		}
		start := i + 1
		for i = start; i < len(data); i++ {
			switch c := data[i]; {
			case c == '"':
				i++
				return data[start : i-1], true
			case c == '\\' || c < 0x20 || c >= 0x7f:
				return nil, false
			}
		}
		return nil, false
	}
	ws()
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i++
	ws()
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			ws()
			k, ok := str()
			if !ok {
				return false
			}
			ws()
			if i >= len(data) || data[i] != ':' {
				return false
			}
			i++
			ws()
			v, ok := str()
			if !ok || !fn(k, v) {
				return false
			}
			ws()
			if i < len(data) && data[i] == ',' {
				i++
				continue
			}
			if i < len(data) && data[i] == '}' {
				i++
				break
			}
			return false
		}
	}
	ws()
	return i == len(data)
}
