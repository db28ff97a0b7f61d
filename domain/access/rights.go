package access

// Capability is one thing a member of a contract may do or see. The HTTP
// layer asks Roles.Can (or Profiles.Can) before serving; the answer comes
// from the single table below.
type Capability string

// The capabilities, grouped by section.
const (
	// contract: summary, own rights, last orders and services blocks.
	CanSeeContract Capability = "see_contract"
	// contract: the Company block.
	CanSeeCompany Capability = "see_company"
	// contract: the "document space" link.
	CanSeeDocumentSpace Capability = "see_document_space"

	// dashboard: see the section.
	CanSeeDashboard Capability = "see_dashboard"
	// dashboard: the "access technical console" button (also needs a
	// console role).
	CanUseConsoleFromDashboard Capability = "use_console_from_dashboard"

	// orders: list, search, sort, detail of every order of the contract.
	CanListOrders Capability = "list_orders"

	// subscriptions: list, search, sort, detail, link to the order.
	CanListSubscriptions Capability = "list_subscriptions"

	// services: catalog, search, detail, "manage your services" link.
	CanSeeCatalog Capability = "see_catalog"
	// services: place an order.
	CanPlaceOrder Capability = "place_order"

	// invoices: the invoice-reception contact.
	CanSeeInvoiceContact Capability = "see_invoice_contact"
	// invoices: invoices and their amounts.
	CanSeeInvoices Capability = "see_invoices"
	// invoices: usage reports and pre-invoices.
	CanSeeUsageReports Capability = "see_usage_reports"

	// support: support-centre contact and "open an incident" link.
	CanSeeSupport Capability = "see_support"

	// users: the customer-area users list (and search).
	CanListUsers Capability = "list_users"
	// users: the console users list (and search).
	CanListConsoleUsers Capability = "list_console_users"
	// users: add a user with profiles and console roles.
	CanAddUser Capability = "add_user"
	// users: add a console user (console roles only).
	CanAddConsoleUser Capability = "add_console_user"
	// users: change any user's profiles and console roles.
	CanChangeRoles Capability = "change_roles"
	// users: change any user's console roles.
	CanChangeConsoleRoles Capability = "change_console_roles"
	// users: remove a user (never the referent) from the contract.
	CanRemoveUser Capability = "remove_user"
	// users: read the history of role changes and roles as of an instant.
	CanSeeRoleHistory Capability = "see_role_history"

	// console: SSO to the console, API password, access keys. Needs a
	// console role, whatever the profiles.
	CanUseConsole Capability = "use_console"
)

// right says which profiles of which section grant a capability, and
// whether at least one console role is needed as well.
type right struct {
	capability Capability
	section    Section   // "" when no profile is involved
	profiles   []Profile // the profiles of section that grant it
	console    bool      // also needs >= 1 console role
}

// rights is SPEC §2's "what each allows" column, written out. Profiles are
// listed explicitly instead of "at least X": on the users section a console
// manager may list console users but not customer-area users.
var rights = []right{
	{CanSeeContract, SectionContract, []Profile{Visitor, Manager}, false},
	{CanSeeCompany, SectionContract, []Profile{Manager}, false},
	{CanSeeDocumentSpace, SectionContract, []Profile{Manager}, false},

	{CanSeeDashboard, SectionDashboard, []Profile{Visitor}, false},
	{CanUseConsoleFromDashboard, SectionDashboard, []Profile{Visitor}, true},

	{CanListOrders, SectionOrders, []Profile{Visitor}, false},

	{CanListSubscriptions, SectionSubscriptions, []Profile{Visitor, Manager}, false},

	{CanSeeCatalog, SectionServices, []Profile{Visitor, Manager}, false},
	{CanPlaceOrder, SectionServices, []Profile{Manager}, false},

	{CanSeeInvoiceContact, SectionInvoices, []Profile{Visitor, Manager}, false},
	{CanSeeInvoices, SectionInvoices, []Profile{Manager}, false},
	{CanSeeUsageReports, SectionInvoices, []Profile{Manager}, false},

	{CanSeeSupport, SectionSupport, []Profile{Visitor, Manager}, false},

	{CanListUsers, SectionUsers, []Profile{Visitor, Manager}, false},
	{CanListConsoleUsers, SectionUsers, []Profile{Visitor, ConsoleManager, Manager}, false},
	{CanAddUser, SectionUsers, []Profile{Manager}, false},
	{CanAddConsoleUser, SectionUsers, []Profile{ConsoleManager, Manager}, false},
	{CanChangeRoles, SectionUsers, []Profile{Manager}, false},
	{CanChangeConsoleRoles, SectionUsers, []Profile{ConsoleManager, Manager}, false},
	{CanRemoveUser, SectionUsers, []Profile{Manager}, false},
	{CanSeeRoleHistory, SectionUsers, []Profile{Manager}, false},

	{CanUseConsole, "", nil, true},
}

// Capabilities lists every capability, in table order.
func Capabilities() []Capability {
	out := make([]Capability, len(rights))
	for i, r := range rights {
		out[i] = r.capability
	}
	return out
}

func lookup(c Capability) (right, bool) {
	for _, r := range rights {
		if r.capability == c {
			return r, true
		}
	}
	return right{}, false
}

func (r right) grantedBy(ps Profiles, console ConsoleRoles) bool {
	if ps.IsZero() {
		return false // not a member
	}
	if r.console && console.IsEmpty() {
		return false
	}
	if r.section == "" {
		return true
	}
	held := ps.Get(r.section)
	for _, p := range r.profiles {
		if p == held {
			return true
		}
	}
	return false
}

// Can reports whether these profiles grant capability c. Capabilities that
// also need a console role are never granted here: use Roles.Can.
func (ps Profiles) Can(c Capability) bool {
	r, ok := lookup(c)
	return ok && r.grantedBy(ps, ConsoleRoles{})
}

// Roles is everything a member holds on a contract: one profile per
// section and a set of console roles. Its JSON is the API's
// {"profiles": {...}, "console": [...]}.
type Roles struct {
	Profiles Profiles     `json:"profiles"`
	Console  ConsoleRoles `json:"console"`
}

// Equal reports whether both hold the same profiles and console roles.
func (r Roles) Equal(o Roles) bool {
	return r.Profiles == o.Profiles && r.Console.Equal(o.Console)
}

// IsZero reports whether r is the zero value (not a member).
func (r Roles) IsZero() bool { return r.Profiles.IsZero() && r.Console.IsEmpty() }

// Can reports whether these roles grant capability c. The zero Roles (not a
// member of the contract) grants nothing.
func (r Roles) Can(c Capability) bool {
	rt, ok := lookup(c)
	return ok && rt.grantedBy(r.Profiles, r.Console)
}

// String renders the roles for logs and test failures.
func (r Roles) String() string { return r.Profiles.String() + " console=" + r.Console.String() }
