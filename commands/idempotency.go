package commands

import (
	"context"
	"fmt"

	"selfcare/eventstore"
)

type idemKey struct{}

// IdempotencyKey identifies a client's retry-safe request.
type IdempotencyKey struct {
	Principal string
	Key       string
}

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
	_, err := tx.Pgx().Exec(ctx,
		`UPDATE idempotency_keys SET state = 'committed' WHERE principal = $1 AND key = $2 AND state = 'pending'`,
		k.Principal, k.Key)
	if err != nil {
		return fmt.Errorf("idempotency key: %w", err)
	}
	return nil
}
