package server

import (
	"context"

	"github.com/jackc/pgx/v5"

	"selfcare/commands"
	"selfcare/domain/access"
	"selfcare/internal/auth"
	"selfcare/internal/clock"
	"selfcare/projections"
	"selfcare/projections/members"
)

// sessionMembers is handlers.SessionMembers: the session (command side)
// and the user's roles (members read model) in one query.
type sessionMembers struct {
	queries members.Queries
	clock   clock.Clock
}

func (s sessionMembers) ResolveMember(ctx context.Context, token, contractID string) (string, access.Roles, bool, bool, error) {
	login, roles, referent, found, ok, err := s.queries.SessionMember(ctx, auth.HashToken(token), s.clock.Now(), contractID)
	if err != nil {
		return "", access.Roles{}, false, false, err
	}
	if !ok {
		return "", access.Roles{}, false, false, commands.ErrSessionEnded
	}
	return login, roles, referent, found, nil
}

func (s sessionMembers) ResolveMemberAnd(ctx context.Context, token, contractID string, read projections.Read) (
	string, access.Roles, bool, bool, pgx.Rows, func(), error) {
	login, roles, referent, found, ok, rows, done, err := s.queries.SessionMemberAnd(ctx, auth.HashToken(token), s.clock.Now(), contractID, read)
	if err != nil {
		return "", access.Roles{}, false, false, nil, nil, err
	}
	if !ok {
		done()
		return "", access.Roles{}, false, false, nil, nil, commands.ErrSessionEnded
	}
	return login, roles, referent, found, rows, done, nil
}
