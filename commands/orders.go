package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/catalog"
	"selfcare/domain/contract"
	"selfcare/domain/order"
	"selfcare/domain/subscription"
	"selfcare/eventstore"
)

// Orders are the commands on orders: a services manager places one, the
// back office completes or rejects it. Completing a reservation order also
// creates its subscription.
type Orders struct {
	*App
	Catalog *catalog.Catalog
}

// PlaceOrderInput is an order as the API receives it.
type PlaceOrderInput struct {
	ContractID  string
	ServiceCode string
	// Parameters as decoded from JSON: strings, numbers and booleans.
	Parameters map[string]any
	Contact    *order.Contact
}

// Place places an order for the actor of ctx and returns its reference.
// The order's number is the next of the contract's (see domain/order): the
// contract's order stream is locked for the transaction so that
// concurrent orders queue rather than conflict, and the append's expected
// version keeps numbers unique even without the lock.
//
// It returns a *domain.ValidationError for an unknown service
// ("service_code" "unknown"), bad parameters ("parameters.<name>") or a bad
// contact ("contact.*"), and an error wrapping domain.ErrNotFound for an
// unknown contract.
func (o *Orders) Place(ctx context.Context, in PlaceOrderInput) (string, error) {
	placed, err := o.PlaceOrder(ctx, in)
	return placed.Ref, err
}

// PlaceOrder is Place, returning the whole OrderPlaced event: what the
// order is, for an answer that need not wait for the read models.
func (o *Orders) PlaceOrder(ctx context.Context, in PlaceOrderInput) (order.OrderPlaced, error) {
	quote, err := o.Catalog.Quote(in.ServiceCode, in.Parameters)
	if errors.Is(err, domain.ErrNotFound) {
		err = domain.Invalid("service_code", "unknown", "there is no service %q in the catalog", in.ServiceCode)
	}
	if err != nil {
		var v domain.ValidationError
		if !v.Merge("", err) {
			return order.OrderPlaced{}, err
		}
		v.Merge("", order.CheckContact(in.Contact))
		return order.OrderPlaced{}, v.Err()
	}
	cmd := order.PlaceOrder{
		ContractID:  in.ContractID,
		ServiceCode: in.ServiceCode,
		PlacedBy:    ActorFrom(ctx).Login,
		Contact:     in.Contact,
	}
	var placed order.OrderPlaced
	_, err = o.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		var k contract.Contract
		var counter order.Counter
		var version int64
		// The lock, the contract and the counter: one round trip.
		if err := o.LoadAll(ctx, tx, []string{order.Stream(in.ContractID)},
			Loading{Stream: contract.Stream(in.ContractID), Agg: &k},
			Loading{Stream: order.Stream(in.ContractID), Agg: &counter, Version: &version}); err != nil {
			return err
		}
		if !k.Exists() {
			return fmt.Errorf("contract %s: %w", in.ContractID, domain.ErrNotFound)
		}
		events, err := order.Place(cmd, quote, counter.Next(), order.ContractCode(k.ID(), k.Name()), o.Now())
		if err != nil {
			return err
		}
		if _, err := o.Append(ctx, tx, order.Stream(in.ContractID), eventstore.Exactly(version), in.ContractID, events...); err != nil {
			return err
		}
		placed = events[0].(order.OrderPlaced)
		return nil
	})
	return placed, err
}

// Complete records that the back office fulfilled order ref. For a
// reservation it also creates the subscription, in the same transaction.
// It returns an error wrapping domain.ErrNotFound for an unknown order
// and domain.ErrConflict for one already completed or rejected.
func (o *Orders) Complete(ctx context.Context, ref string) error {
	return o.decide(ctx, ref, func(ord order.Order) ([]domain.Event, error) { return ord.Complete(o.Now()) })
}

// Reject records that the back office refused order ref, for an optional
// reason. Errors are those of Complete, and a *domain.ValidationError for
// a reason too long ("reason").
func (o *Orders) Reject(ctx context.Context, ref, reason string) error {
	return o.decide(ctx, ref, func(ord order.Order) ([]domain.Event, error) { return ord.Reject(reason, o.Now()) })
}

func (o *Orders) decide(ctx context.Context, ref string, decide func(order.Order) ([]domain.Event, error)) error {
	r, err := order.ParseRef(ref)
	if err != nil {
		return err
	}
	stream := order.Stream(r.ContractID)
	_, err = o.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		if err := lockStream(ctx, tx, stream); err != nil {
			return err
		}
		ord, version, err := o.loadOrder(ctx, tx, stream, ref)
		if err != nil {
			return err
		}
		if !ord.Exists() {
			return fmt.Errorf("order %q: %w", ref, domain.ErrNotFound)
		}
		events, err := decide(ord)
		if err != nil {
			return err
		}
		if _, err := o.Append(ctx, tx, stream, eventstore.Exactly(version), r.ContractID, events...); err != nil {
			return err
		}
		for _, e := range events {
			ord.Apply(e)
		}
		if ord.Status() != order.StatusCompleted {
			return nil
		}
		var sub subscription.Subscription
		subVersion, err := o.Load(ctx, tx, subscription.Stream(ref), &sub)
		if err != nil {
			return err
		}
		created, err := sub.Create(ord)
		if err != nil {
			return err
		}
		_, err = o.Append(ctx, tx, subscription.Stream(ref), eventstore.Exactly(subVersion), r.ContractID, created...)
		return err
	})
	return err
}

// lockStream makes the transactions deciding on stream wait for one
// another, so that busy streams (a contract's orders) serialise instead of
// failing on the append's expected version and retrying. The expected
// version still guarantees correctness; the lock only avoids the thrash.
func lockStream(ctx context.Context, tx *eventstore.Tx, stream string) error {
	if _, err := tx.Pgx().Exec(ctx, lockSQL, stream); err != nil {
		return fmt.Errorf("lock %s: %w", stream, err)
	}
	return nil
}

const lockSQL = `SELECT pg_advisory_xact_lock(hashtextextended('stream:' || $1, 0))`

// tryLockStream is lockStream without waiting: false if another
// transaction holds the lock.
func tryLockStream(ctx context.Context, tx *eventstore.Tx, stream string) (bool, error) {
	var ok bool
	if err := tx.Pgx().QueryRow(ctx, `SELECT pg_try_advisory_xact_lock(hashtextextended('stream:' || $1, 0))`, stream).Scan(&ok); err != nil {
		return false, fmt.Errorf("lock %s: %w", stream, err)
	}
	return ok, nil
}

// loadOrder folds order ref from its contract's order stream, reading only
// its own events (found by the order_events index that the database keeps
// beside the events), and returns it with the stream's current version:
// completing order #N reads two events whatever N.
func (o *Orders) loadOrder(ctx context.Context, tx *eventstore.Tx, stream, ref string) (order.Order, int64, error) {
	ord := order.For(ref)
	rows, err := tx.Pgx().Query(ctx, `SELECT stream_version FROM order_events WHERE ref = $1 AND stream_id = $2 ORDER BY stream_version`, ref, stream)
	if err != nil {
		return ord, 0, fmt.Errorf("order %s: %w", ref, err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return ord, 0, fmt.Errorf("order %s: %w", ref, err)
	}
	recs, version, err := tx.LoadVersions(ctx, stream, versions)
	if err != nil {
		return ord, 0, err
	}
	o.loaded(stream, len(recs))
	if _, err := o.Fold(recs, &ord); err != nil {
		return ord, 0, err
	}
	return ord, version, nil
}
