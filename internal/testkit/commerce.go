package testkit

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/commands"
	"selfcare/domain/access"
	"selfcare/domain/identity"
	"selfcare/domain/membership"
	"selfcare/eventstore"
)

// Member is a user declared on a contract for a test, signed in.
type Member struct {
	Login string
	Token string
}

// DeclareMember registers a new identity, declares it on contract cid with
// the given profiles (sections left out take the defaults) and signs it
// in. Like SignInNew it takes the command-side shortcut (the domain's
// decisions, appended directly) rather than the users API, which has tests
// of its own.
func (e *Env) DeclareMember(cid string, profiles map[string]string) Member {
	e.T.Helper()
	ps, err := access.ParseProfiles(profiles)
	if err != nil {
		e.T.Fatalf("profiles %v: %v", profiles, err)
	}
	login := Unique("member.")
	reg, err := identity.NewRegistration(identity.RegistrationInput{
		Login: login, Email: login + "@example.com",
		PersonInput: identity.PersonInput{Civility: "mr", LastName: "Martin", FirstName: "Louis", Phone: "+33 1 23 45 67 89", Language: "en"},
	})
	if err != nil {
		e.T.Fatal(err)
	}
	e.appendDirect(func(ctx context.Context, a *commands.App, tx *eventstore.Tx) error {
		now := a.Now()
		var id identity.Identity
		registered, err := id.Register(reg, now)
		if err != nil {
			return err
		}
		if _, err := a.Append(ctx, tx, identity.Stream(login), eventstore.NoStream, "", registered...); err != nil {
			return err
		}
		var claim identity.EmailClaim
		claimed, err := claim.Claim(reg.Email, reg.Login, now)
		if err != nil {
			return err
		}
		if _, err := a.Append(ctx, tx, identity.EmailStream(reg.Email), eventstore.NoStream, "", claimed...); err != nil {
			return err
		}
		var m membership.Membership
		added, err := m.Add(membership.Add{
			ContractID: cid, Login: login, Profiles: ps, By: membership.AllRoles, AddedBy: "testkit", NewIdentity: true,
		}, now)
		if err != nil {
			return err
		}
		_, err = a.Append(ctx, tx, membership.Stream(cid, login), eventstore.NoStream, cid, added...)
		return err
	})
	return Member{Login: login, Token: e.SignInNew(login)}
}

// SetExternalAccounts records whether login has accounts on the incidents
// and change-requests applications for contract cid (the back office's
// decision, appended directly).
func (e *Env) SetExternalAccounts(cid, login string, incidents, changeRequests bool) {
	e.T.Helper()
	e.appendDirect(func(ctx context.Context, a *commands.App, tx *eventstore.Tx) error {
		var m membership.Membership
		stream := membership.Stream(cid, login)
		version, err := a.Load(ctx, tx, stream, &m)
		if err != nil {
			return err
		}
		events, err := m.SetExternalAccounts(incidents, changeRequests, a.Now())
		if err != nil {
			return err
		}
		_, err = a.Append(ctx, tx, stream, eventstore.Exactly(version), cid, events...)
		return err
	})
}

// appendDirect runs fn in a command transaction of the server, as the
// back office, and waits for the read models to show what it appended.
func (e *Env) appendDirect(fn func(ctx context.Context, a *commands.App, tx *eventstore.Tx) error) {
	e.T.Helper()
	ctx := commands.WithActor(context.Background(), commands.Actor{Kind: commands.ActorOperator, Login: "operator"})
	a := e.Server.App
	if _, err := a.Execute(ctx, commands.FailOnConflict, func(tx *eventstore.Tx) error { return fn(ctx, a, tx) }); err != nil {
		e.T.Fatal(err)
	}
}

// CountEvents counts the stored events of the given types (all if none).
func (e *Env) CountEvents(types ...string) int {
	e.T.Helper()
	var n int
	err := e.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM events WHERE cardinality($1::text[]) = 0 OR event_type = ANY($1)`, types).Scan(&n)
	if err != nil {
		e.T.Fatal(err)
	}
	return n
}

// StartAnother starts a second server process on the database of e, with
// its own connection pool, background workers and HTTP server, as a second
// instance of a deployment would run. It stops at test cleanup, or with
// Stop. Options apply as in New (pass the same clock to share it).
func (e *Env) StartAnother(opts ...Option) *Env {
	e.T.Helper()
	t := e.T
	pool, err := pgxpool.New(context.Background(), e.Pool.Config().ConnString())
	if err != nil {
		t.Fatalf("testkit: second pool: %v", err)
	}
	t.Cleanup(pool.Close)
	cfg := e.Config
	cfg.DataDir = t.TempDir()
	other := start(t, cfg, pool, opts)
	other.position = e.position
	t.Cleanup(other.Stop)
	return other
}

// Stop stops the server of e (its HTTP server and background workers), as
// a process that exits; the database stays. Calling it again does nothing.
func (e *Env) Stop() {
	e.Server.Drain() // long polls still in flight answer now, so Close does not wait for them
	e.HTTP.Close()
	e.Server.Stop()
}
