package members

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"selfcare/domain/identity"
)

// ServicesContext returns what the services section needs to know of a
// member beside the catalog: their display language ("fr" or "en") and
// whether they have an account on the change-requests application (which
// shows the "manage your services" link). A user not declared on the
// contract gets "" and false.
func (q Queries) ServicesContext(ctx context.Context, cid, login string) (language string, changeRequests bool, err error) {
	err = q.Pool.QueryRow(ctx, `
SELECT coalesce(i.language, ''), m.change_requests
FROM rm_members.members m LEFT JOIN rm_members.identities i ON i.login_key = m.login_key
WHERE m.contract_id = $1 AND m.login_key = $2`, cid, identity.LoginKey(login)).Scan(&language, &changeRequests)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("members: services context of %s on %s: %w", login, cid, err)
	}
	return language, changeRequests, nil
}
