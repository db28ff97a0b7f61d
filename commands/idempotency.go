package commands

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"selfcare/domain"
	"selfcare/eventstore"
)

type idemKey struct{}

// IdempotencyKey identifies a client's retry-safe request.
type IdempotencyKey struct {
	Principal string
	Key       string
	// Holder is the request's lease on the pending key: a request whose
	// lease was taken over (it outlived it) cannot commit under the key.
	Holder uuid.UUID
}

// ErrIdempotencyLeaseLost: the request outlived its lease on its
// Idempotency-Key and a retry took it over; nothing was applied.
var ErrIdempotencyLeaseLost = fmt.Errorf("%w: a retry with this Idempotency-Key took over this request; nothing was applied", domain.ErrConflict)

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
		`UPDATE idempotency_keys SET state = 'committed' WHERE principal = $1 AND key = $2 AND state = 'pending' AND holder = $3`,
		k.Principal, k.Key, k.Holder)
	if err != nil {
		return fmt.Errorf("idempotency key: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return ErrIdempotencyLeaseLost
	}
	return nil
}
