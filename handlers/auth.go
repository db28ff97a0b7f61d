package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"selfcare/commands"
	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/identity"
	opaccount "selfcare/domain/operator"
	"selfcare/internal/auth"
	"selfcare/projections"
)

type principalKind int

const (
	anonymous principalKind = iota
	userPrincipal
	operatorPrincipal
	auditorPrincipal
)

// principal is who calls: nobody, a signed-in user, the back office or an
// auditor.
type principal struct {
	kind  principalKind
	login string // for users; for operators and auditors, the account's name ("" for the bootstrap tokens)
	token string // the bearer token as presented (never logged)
}

// id names the principal for idempotency records and logs.
func (p principal) id(r *http.Request) string {
	switch p.kind {
	case userPrincipal:
		return "user:" + identity.LoginKey(p.login)
	case operatorPrincipal:
		return "operator:" + p.login
	case auditorPrincipal:
		return "auditor:" + p.login
	default:
		return "anonymous:" + clientIP(r)
	}
}

// membership is the caller's standing on the contract of the request.
type membership struct {
	contractID string
	roles      access.Roles
	referent   bool
}

func principalFrom(ctx context.Context) principal {
	p, _ := ctx.Value(keyPrincipal).(principal)
	return p
}

// memberFrom returns the caller's membership on the request's contract,
// resolved by the authorizer (zero for auditors and non-contract routes).
func memberFrom(ctx context.Context) membership {
	m, _ := ctx.Value(keyMember).(membership)
	return m
}

func bearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// identify resolves the caller. An unknown, expired or revoked token is an
// error (401), not an anonymous call: a client must learn its session ended.
func (s *Server) identify(r *http.Request) (principal, error) {
	token := bearerToken(r)
	if token == "" {
		return principal{kind: anonymous}, nil
	}
	switch {
	case s.deps.AdminToken != "" && auth.Equal(token, s.deps.AdminToken):
		return principal{kind: operatorPrincipal, token: token}, nil
	case s.deps.AuditorToken != "" && auth.Equal(token, s.deps.AuditorToken):
		return principal{kind: auditorPrincipal, token: token}, nil
	}
	if p, ok, err := s.namedOperator(r.Context(), token); ok || err != nil {
		return p, err
	}
	if s.deps.Sessions == nil {
		return principal{}, fmt.Errorf("%w: unknown token", domain.ErrUnauthenticated)
	}
	login, err := s.deps.Sessions.Resolve(r.Context(), token)
	if err != nil {
		return principal{}, err
	}
	return principal{kind: userPrincipal, login: login, token: token}, nil
}

// namedOperator resolves token as a named operator's or auditor's; ok is
// false when it is none.
func (s *Server) namedOperator(ctx context.Context, token string) (principal, bool, error) {
	if s.deps.Operators == nil {
		return principal{}, false, nil
	}
	name, role, ok, err := s.deps.Operators.Resolve(ctx, token)
	if err != nil || !ok {
		return principal{}, false, err
	}
	kind := auditorPrincipal
	if role == opaccount.RoleAdmin {
		kind = operatorPrincipal
	}
	return principal{kind: kind, login: name, token: token}, true, nil
}

// standing is a member's roles on a contract, as read with the session.
type standing struct {
	contractID string
	roles      access.Roles
	referent   bool
	found      bool

	// prefetched is the endpoint's read, sent with the session (HandleRead).
	prefetched *prefetch
}

// prefetch is an endpoint's read sent with the session check: its rows go
// to the handler only if the caller is allowed, and done ends it either way.
type prefetch struct {
	read projections.Read
	rows pgx.Rows
	done func()
}

// identifyFor is identify, which for the endpoints of a contract also
// reads the user's standing on it in the same query (nil otherwise).
func (s *Server) identifyFor(rl rule, read func(*http.Request) (projections.Read, bool), r *http.Request) (principal, *standing, error) {
	if s.deps.SessionMembers == nil || (rl.who != member && rl.who != auditorOrMember) {
		p, err := s.identify(r)
		return p, nil, err
	}
	token, cid := bearerToken(r), contractOf(r)
	if token == "" || cid == "" ||
		s.deps.AdminToken != "" && auth.Equal(token, s.deps.AdminToken) ||
		s.deps.AuditorToken != "" && auth.Equal(token, s.deps.AuditorToken) {
		p, err := s.identify(r)
		return p, nil, err
	}
	var login string
	var roles access.Roles
	var referent, found bool
	var pre *prefetch
	var err error
	if q, ok := readOf(read, r); ok {
		pre = &prefetch{read: q}
		login, roles, referent, found, pre.rows, pre.done, err = s.deps.SessionMembers.ResolveMemberAnd(r.Context(), token, cid, q)
		if err != nil {
			pre = nil
		}
	} else {
		login, roles, referent, found, err = s.deps.SessionMembers.ResolveMember(r.Context(), token, cid)
	}
	if errors.Is(err, domain.ErrUnauthenticated) {
		// Not a session: maybe a named auditor's token.
		if p, ok, oerr := s.namedOperator(r.Context(), token); ok || oerr != nil {
			return p, nil, oerr
		}
	}
	if err != nil {
		return principal{}, nil, err
	}
	return principal{kind: userPrincipal, login: login, token: token},
		&standing{contractID: cid, roles: roles, referent: referent, found: found, prefetched: pre}, nil
}

// readOf is the read an endpoint declared for r, if it has one for it.
func readOf(read func(*http.Request) (projections.Read, bool), r *http.Request) (projections.Read, bool) {
	if read == nil {
		return projections.Read{}, false
	}
	return read(r)
}

// contractOf is the contract a request names: {cid} in its path, else
// ?contract=.
func contractOf(r *http.Request) string {
	if cid := mux.Vars(r)["cid"]; cid != "" {
		return cid
	}
	return r.URL.Query().Get("contract")
}

var (
	errSignIn       = fmt.Errorf("%w: sign in first (Authorization: Bearer <token>)", domain.ErrUnauthenticated)
	errNotOperator  = fmt.Errorf("%w: this endpoint is for the back office", domain.ErrForbidden)
	errNotAuditor   = fmt.Errorf("%w: this endpoint is for auditors", domain.ErrForbidden)
	errNotFeed      = fmt.Errorf("%w: the event feed is for billing consumers (auditor or admin token)", domain.ErrForbidden)
	errNotUser      = fmt.Errorf("%w: this endpoint is for customer users", domain.ErrForbidden)
	errNoContract   = fmt.Errorf("%w: contract not found", domain.ErrNotFound)
	errNoCapability = domain.ErrForbidden
)

// authorize enforces the rights-table rule of an endpoint, and attaches the
// principal, the caller's membership and the command actor to the request.
func (s *Server) authorize(rl rule, read func(*http.Request) (projections.Read, bool), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rl.who == oidcProtocol {
			// The Authorization header is the provider's business.
			ctx := commands.WithActor(r.Context(), actorOf(r, principal{kind: anonymous}))
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		p, pre, err := s.identifyFor(rl, read, r)
		if err != nil {
			refuse(w, r, err)
			return
		}
		if pre != nil && pre.prefetched != nil {
			defer pre.prefetched.done()
		}
		ctx := context.WithValue(r.Context(), keyPrincipal, p)
		ctx = commands.WithActor(ctx, actorOf(r, p))
		m, err := s.check(ctx, rl, p, r, pre)
		if err != nil {
			refuse(w, r, err)
			return
		}
		if m.contractID != "" {
			ctx = context.WithValue(ctx, keyMember, m)
		}
		if pre != nil && pre.prefetched != nil {
			// Allowed: the handler may take the rows read with the session.
			ctx = projections.WithPrefetched(ctx, pre.prefetched.read, pre.prefetched.rows)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Problem types of the authorizer's refusals. A client (and the rights
// matrix test) tells a call refused by the rights table from an error of
// the endpoint itself, which keeps "about:blank": a 404 of type
// ProblemContractNotFound means "not declared on this contract", a plain
// 404 an unknown sub-resource.
const (
	ProblemUnauthenticated  = "https://selfcare.example/problems/unauthenticated"
	ProblemForbidden        = "https://selfcare.example/problems/forbidden"
	ProblemContractNotFound = "https://selfcare.example/problems/contract-not-found"
)

var refusalTypes = map[int]string{
	http.StatusUnauthorized: ProblemUnauthenticated,
	http.StatusForbidden:    ProblemForbidden,
	http.StatusNotFound:     ProblemContractNotFound,
}

// refuse answers a call the authorizer turned down; other errors (a
// missing ?contract=, a database failure) are answered as usual.
func refuse(w http.ResponseWriter, r *http.Request, err error) {
	status, title := statusOf(err)
	typ, ok := refusalTypes[status]
	if !ok {
		fail(w, r, err)
		return
	}
	writeProblem(w, Problem{Type: typ, Title: title, Status: status, Detail: err.Error(), Instance: r.URL.Path})
}

func actorOf(r *http.Request, p principal) commands.Actor {
	a := commands.Actor{IP: clientIP(r), RequestID: requestID(r.Context()), CorrelationID: r.Header.Get("X-Correlation-Id")}
	switch p.kind {
	case userPrincipal:
		a.Kind, a.Login = commands.ActorUser, p.login
	case operatorPrincipal:
		a.Kind, a.Login = commands.ActorOperator, cmp.Or(p.login, opaccount.BootstrapPrefix+"admin")
	case auditorPrincipal:
		a.Kind, a.Login = commands.ActorAuditor, cmp.Or(p.login, opaccount.BootstrapPrefix+"auditor")
	default:
		a.Kind = "anonymous"
	}
	if len(a.CorrelationID) > 64 {
		a.CorrelationID = a.CorrelationID[:64]
	}
	return a
}

func (s *Server) check(ctx context.Context, rl rule, p principal, r *http.Request, pre *standing) (membership, error) {
	switch rl.who {
	case public, oidcProtocol:
		return membership{}, nil
	case signedIn:
		return membership{}, requireKind(p, userPrincipal, errNotUser)
	case operator:
		return membership{}, requireKind(p, operatorPrincipal, errNotOperator)
	case auditor:
		return membership{}, requireKind(p, auditorPrincipal, errNotAuditor)
	case feedReader:
		if p.kind == auditorPrincipal || p.kind == operatorPrincipal {
			return membership{}, nil
		}
		return membership{}, requireKind(p, auditorPrincipal, errNotFeed)
	case auditorOrMember:
		if p.kind == auditorPrincipal {
			return membership{}, nil
		}
		return s.checkMember(ctx, rl, p, r, pre)
	case member:
		return s.checkMember(ctx, rl, p, r, pre)
	}
	return membership{}, fmt.Errorf("handlers: rule with unknown audience %d", rl.who)
}

func requireKind(p principal, want principalKind, wrong error) error {
	switch p.kind {
	case want:
		return nil
	case anonymous:
		return errSignIn
	default:
		return wrong
	}
}

func (s *Server) checkMember(ctx context.Context, rl rule, p principal, r *http.Request, pre *standing) (membership, error) {
	if err := requireKind(p, userPrincipal, errNotUser); err != nil {
		return membership{}, err
	}
	cid := contractOf(r)
	if cid == "" {
		return membership{}, domain.Invalid("contract", "required", "name the contract (?contract=OCB...)")
	}
	var roles access.Roles
	var referent, found bool
	if pre != nil && pre.contractID == cid {
		roles, referent, found = pre.roles, pre.referent, pre.found
	} else {
		var err error
		if roles, referent, found, err = s.deps.Members.Roles(ctx, cid, p.login); err != nil {
			return membership{}, err
		}
	}
	if !found {
		return membership{}, errNoContract
	}
	if !roles.Can(rl.can) {
		return membership{}, fmt.Errorf("%w: your profiles on contract %s do not allow this (%s)", errNoCapability, cid, rl.can)
	}
	return membership{contractID: cid, roles: roles, referent: referent}, nil
}

// isErr is errors.Is, for handlers.
func isErr(err, target error) bool { return errors.Is(err, target) }
