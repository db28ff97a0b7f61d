package commands

import (
	"context"
	"fmt"

	"selfcare/domain"
	"selfcare/eventstore"
)

type idemKey struct{}

// IdempotencyKey identifies a client's retry-safe request.
type IdempotencyKey struct {
	Principal string
	Key       string
	// Claim is the lease the request holds on the key: the key is marked
	// applied only under it.
	Claim string
}

// ErrIdempotencyLeaseLost: the request held its Idempotency-Key so long
// that a retry reclaimed it; the retry applies the request, this one must
// not (its transaction rolls back).
var ErrIdempotencyLeaseLost = fmt.Errorf("%w: a retry with this Idempotency-Key took over the request; read the resource", domain.ErrConflict)

// WithIdempotencyKey marks ctx as serving an Idempotency-Key request: the
// command's transaction then records, atomically with its events, that the
// key's request was applied, so that a retry can never apply it twice even
// if the server dies before storing the response.
func WithIdempotencyKey(ctx context.Context, k IdempotencyKey) context.Context {
	return context.WithValue(ctx, idemKey{}, k)
}

func markIdempotent(ctx context.Context, tx *eventstore.Tx) error {
	k, ok := ctx.Value(idemKey{}).(IdempotencyKey)
	if !ok || tx.LastPosition() == 0 {
		return nil
	}
	tag, err := tx.Pgx().Exec(ctx,
		`UPDATE idempotency_keys SET state = 'committed' WHERE principal = $1 AND key = $2 AND claim = $3 AND state <> 'done'`,
		k.Principal, k.Key, k.Claim)
	if err != nil {
		return fmt.Errorf("idempotency key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrIdempotencyLeaseLost
	}
	return nil
}
