package testkit

import (
	"context"
	"errors"
	"net/http"

	"selfcare/eventstore"
)

// UserBody is a valid POST /contracts/{cid}/users body: the person fields
// of Person(login), profiles (nil: all defaults) and console roles.
func UserBody(login string, profiles map[string]string, console ...string) map[string]any {
	b := Person(login)
	if profiles != nil {
		b["profiles"] = profiles
	}
	if console == nil {
		console = []string{}
	}
	b["console"] = console
	return b
}

// User is a user added to a contract by a test.
type User struct {
	Login string
	Token string // empty unless signed in
}

// AddUser adds a user to contract c through the API (as its referent) and
// returns the created user's JSON; the test fails unless the answer is 201.
func (e *Env) AddUser(c Contract, body map[string]any) map[string]any {
	e.T.Helper()
	return Expect(e.T, e.Post("/api/v1/contracts/"+c.ID+"/users", c.ReferentToken, body), http.StatusCreated).Map(e.T)
}

// AddSignedInUser adds a user with the given profiles and console roles to
// contract c, gives them a password and signs them in.
func (e *Env) AddSignedInUser(c Contract, loginPrefix string, profiles map[string]string, console ...string) User {
	e.T.Helper()
	u := e.AddUser(c, UserBody(Unique(loginPrefix), profiles, console...))
	login, _ := u["login"].(string)
	return User{Login: login, Token: e.SignInNew(login)}
}

// Stream returns the stored events of a stream, in version order (none if
// the stream does not exist).
func (e *Env) Stream(stream string) []eventstore.Record {
	e.T.Helper()
	recs, err := e.Server.Store.Load(context.Background(), stream, 0)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		e.T.Fatal(err)
	}
	return recs
}
