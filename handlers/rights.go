package handlers

import (
	"selfcare/domain/access"
)

// audience says who may call an endpoint at all.
type audience int

const (
	public          audience = iota // anyone, signed in or not
	signedIn                        // a signed-in user
	operator                        // the back office (admin token)
	auditor                         // an auditor (auditor token)
	feedReader                      // a billing consumer: auditor or admin token
	member                          // a user declared on the contract, with a capability
	auditorOrMember                 // an auditor, or a member with the capability
	// oidcProtocol: an endpoint of the OpenID provider, open to anyone,
	// that authenticates its callers itself (client secret, the provider's
	// access tokens, its session cookie): the API's bearer tokens are not
	// looked at.
	oidcProtocol
)

// rule is one row of the rights table.
type rule struct {
	who audience
	// can is the capability a member needs (SPEC §2), for member and
	// auditorOrMember rules.
	can access.Capability
}

// rights is THE rights table: every endpoint of the API and who may call
// it. Routes are registered through it (a route without a row panics at
// start), and TestRightsMatrix walks every row with every profile.
//
// The contract of member rules is the {cid} of the path, or else the
// "contract" query parameter. A caller not declared on that contract gets
// 404, a member without the capability 403, an anonymous caller 401.
var rights = map[string]rule{
	// Sign-in and account.
	"POST /api/v1/sessions":            {who: public},
	"DELETE /api/v1/sessions/current":  {who: signedIn},
	"POST /api/v1/captchas":            {who: public},
	"GET /api/v1/captchas/{id}.png":    {who: public},
	"POST /api/v1/password-requests":   {who: public},
	"POST /api/v1/password-resets":     {who: public},
	"POST /api/v1/login-reminders":     {who: public},
	"GET /api/v1/me":                   {who: signedIn},
	"PATCH /api/v1/me":                 {who: signedIn},
	"PUT /api/v1/me/password":          {who: signedIn},
	"POST /api/v1/email-confirmations": {who: public},
	"GET /api/v1/me/contracts":         {who: signedIn},
	"GET /api/v1/me/orders":            {who: signedIn},
	"GET /api/v1/me/subscriptions":     {who: signedIn},

	// A contract.
	"GET /api/v1/contracts/{cid}":                               {who: member, can: access.CanSeeContract},
	"GET /api/v1/contracts/{cid}/rights":                        {who: member, can: access.CanSeeContract},
	"GET /api/v1/contracts/{cid}/users":                         {who: member, can: access.CanListUsers},
	"POST /api/v1/contracts/{cid}/users":                        {who: member, can: access.CanAddUser},
	"GET /api/v1/contracts/{cid}/users/{login}":                 {who: member, can: access.CanListUsers},
	"PUT /api/v1/contracts/{cid}/users/{login}/roles":           {who: member, can: access.CanChangeRoles},
	"DELETE /api/v1/contracts/{cid}/users/{login}":              {who: member, can: access.CanRemoveUser},
	"GET /api/v1/contracts/{cid}/users/{login}/roles":           {who: auditorOrMember, can: access.CanSeeRoleHistory},
	"GET /api/v1/contracts/{cid}/console-users":                 {who: member, can: access.CanListConsoleUsers},
	"POST /api/v1/contracts/{cid}/console-users":                {who: member, can: access.CanAddConsoleUser},
	"PUT /api/v1/contracts/{cid}/console-users/{login}/roles":   {who: member, can: access.CanChangeConsoleRoles},
	"GET /api/v1/contracts/{cid}/console-roles":                 {who: member, can: access.CanListConsoleUsers},
	"POST /api/v1/contracts/{cid}/console/sso":                  {who: member, can: access.CanUseConsole},
	"POST /api/v1/contracts/{cid}/console/sign-in":              {who: member, can: access.CanUseConsole},
	"POST /api/v1/contracts/{cid}/console/verification-codes":   {who: member, can: access.CanUseConsole},
	"GET /api/v1/contracts/{cid}/console/api-password":          {who: member, can: access.CanUseConsole},
	"PUT /api/v1/contracts/{cid}/console/api-password":          {who: member, can: access.CanUseConsole},
	"GET /api/v1/contracts/{cid}/console/access-keys":           {who: member, can: access.CanUseConsole},
	"POST /api/v1/contracts/{cid}/console/access-keys":          {who: member, can: access.CanUseConsole},
	"DELETE /api/v1/contracts/{cid}/console/access-keys/{akid}": {who: member, can: access.CanUseConsole},
	"GET /api/v1/contracts/{cid}/catalog":                       {who: member, can: access.CanSeeCatalog},
	"GET /api/v1/contracts/{cid}/catalog/{service_code}":        {who: member, can: access.CanSeeCatalog},
	"POST /api/v1/contracts/{cid}/orders":                       {who: member, can: access.CanPlaceOrder},
	"GET /api/v1/contracts/{cid}/orders":                        {who: member, can: access.CanListOrders},
	"GET /api/v1/contracts/{cid}/orders/{ref}":                  {who: member, can: access.CanListOrders},
	"GET /api/v1/contracts/{cid}/subscriptions":                 {who: member, can: access.CanListSubscriptions},
	"GET /api/v1/contracts/{cid}/subscriptions/{ref}":           {who: member, can: access.CanListSubscriptions},
	"GET /api/v1/contracts/{cid}/invoices":                      {who: member, can: access.CanSeeInvoiceContact},
	"GET /api/v1/contracts/{cid}/invoices/{id}":                 {who: member, can: access.CanSeeInvoices},
	"GET /api/v1/contracts/{cid}/usage-reports":                 {who: member, can: access.CanSeeUsageReports},
	"GET /api/v1/contracts/{cid}/support":                       {who: member, can: access.CanSeeSupport},

	// Audit.
	"GET /api/v1/audit/role-changes":            {who: auditorOrMember, can: access.CanSeeRoleHistory},
	"GET /api/v1/audit/streams/{stream}/events": {who: auditor},
	"GET /api/v1/audit/integrity":               {who: auditor},

	// Event feed.
	"GET /api/v1/events": {who: feedReader},

	// Back office.
	"POST /api/v1/admin/contracts":                                      {who: operator},
	"POST /api/v1/admin/contracts/{cid}/console-groups":                 {who: operator},
	"PUT /api/v1/admin/contracts/{cid}/users/{login}/external-accounts": {who: operator},
	"POST /api/v1/admin/orders/{ref}/complete":                          {who: operator},
	"POST /api/v1/admin/orders/{ref}/reject":                            {who: operator},
	"POST /api/v1/admin/contracts/{cid}/usage":                          {who: operator},
	"POST /api/v1/admin/billing-runs":                                   {who: operator},

	// Operations.
	"GET /healthz":      {who: public},
	"GET /readyz":       {who: public},
	"GET /metrics":      {who: public},
	"GET /openapi.json": {who: public},

	// The OpenID provider of the console (oidc.go, internal/oidcop).
	"GET /.well-known/openid-configuration": {who: oidcProtocol},
	"GET /oidc/authorize":                   {who: oidcProtocol},
	"POST /oidc/authorize":                  {who: oidcProtocol},
	"GET /oidc/authorize/callback":          {who: oidcProtocol},
	"POST /oidc/token":                      {who: oidcProtocol},
	"GET /oidc/userinfo":                    {who: oidcProtocol},
	"POST /oidc/userinfo":                   {who: oidcProtocol},
	"GET /oidc/keys":                        {who: oidcProtocol},
	"GET /oidc/end_session":                 {who: oidcProtocol},
	"POST /oidc/end_session":                {who: oidcProtocol},
	"POST /oidc/revoke":                     {who: oidcProtocol},
	"POST /oidc/introspect":                 {who: oidcProtocol},
	"GET /oidc/login":                       {who: oidcProtocol},
	"POST /oidc/login":                      {who: oidcProtocol},

	// The web UI (web.go): its page and static assets, public like the
	// sign-in page; every datum it shows comes from the rows above.
	"GET /":          {who: public},
	"GET /ui/{file}": {who: public},
}
