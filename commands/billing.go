package commands

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/billing"
	"selfcare/domain/catalog"
	"selfcare/domain/contract"
	"selfcare/domain/order"
	"selfcare/domain/subscription"
	"selfcare/eventstore"
)

// Billing are the back office's billing commands: usage reports and
// billing runs. It also previews the invoice of a period not invoiced yet
// (the pre-invoice), with the same rules as the run.
type Billing struct {
	*App
}

// ReportUsage records a usage report of contract cmd.ContractID for
// cmd.Period. It returns a *domain.ValidationError for bad lines (see
// billing.Ledger.ReportUsage) or a period after the current month
// ("period" "in_future"), an error wrapping domain.ErrNotFound for an
// unknown contract, and domain.ErrConflict once the period is invoiced.
func (b *Billing) ReportUsage(ctx context.Context, cmd billing.ReportUsage) error {
	if !cmd.Period.IsZero() && cmd.Period.First().After(subscription.DateOf(b.Now())) {
		return domain.Invalid("period", "in_future", "usage of %s cannot be reported before the month starts", cmd.Period)
	}
	stream := billing.Stream(cmd.ContractID, cmd.Period)
	_, err := b.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		if err := b.mustExist(ctx, tx, cmd.ContractID); err != nil {
			return err
		}
		if err := lockStream(ctx, tx, stream); err != nil {
			return err
		}
		var ledger billing.Ledger
		version, err := b.Load(ctx, tx, stream, &ledger)
		if err != nil {
			return err
		}
		events, err := ledger.ReportUsage(cmd, b.Now())
		if err != nil {
			return err
		}
		_, err = b.Append(ctx, tx, stream, eventstore.Exactly(version), cmd.ContractID, events...)
		return err
	})
	return err
}

func (b *Billing) mustExist(ctx context.Context, tx *eventstore.Tx, cid string) error {
	var k contract.Contract
	if _, err := b.Load(ctx, tx, contract.Stream(cid), &k); err != nil {
		return err
	}
	if !k.Exists() {
		return fmt.Errorf("contract %s: %w", cid, domain.ErrNotFound)
	}
	return nil
}

// RunResult tells what a billing run did.
type RunResult struct {
	Period         billing.Period `json:"period"`
	Contracts      int            `json:"contracts"`
	InvoicesIssued int            `json:"invoices_issued"`
}

// Run issues the invoice of period p to every contract that has something
// to bill for it (SPEC §7). Each contract is invoiced in a transaction of
// its own, at most once per period (its Ledger stream), so running a
// period twice issues nothing new, and running it again after a crash
// issues only the invoices still missing. Only ended periods are billed: a
// period of the current month or later is a *domain.ValidationError
// ("period" "not_ended").
func (b *Billing) Run(ctx context.Context, p billing.Period) (RunResult, error) {
	if p.IsZero() {
		return RunResult{}, domain.Invalid("period", "required", "a period (YYYY-MM) is required")
	}
	if !p.Last().Before(subscription.DateOf(b.Now())) {
		return RunResult{}, domain.Invalid("period", "not_ended", "%s is not over yet: bill it from the 1st of the next month", p)
	}
	res := RunResult{Period: p}
	var after int64
	for {
		recs, next, err := b.Store.ReadAll(ctx, b.Store.Pool(), after, eventstore.ReadOptions{Types: []string{"ContractCreated"}, Limit: 500})
		if err != nil {
			return res, err
		}
		for _, rec := range recs {
			e, err := b.Decode(rec)
			if err != nil {
				return res, err
			}
			created, ok := e.(contract.ContractCreated)
			if !ok {
				continue
			}
			issued, err := b.Issue(ctx, created.ID, p)
			if err != nil {
				return res, fmt.Errorf("billing run %s, contract %s: %w", p, created.ID, err)
			}
			res.Contracts++
			if issued {
				res.InvoicesIssued++
			}
		}
		if len(recs) == 0 || next == after {
			return res, nil
		}
		after = next
	}
}

// Issue issues the invoice of contract cid for period p unless it exists
// already or there is nothing to bill; it reports whether it issued one.
func (b *Billing) Issue(ctx context.Context, cid string, p billing.Period) (bool, error) {
	stream := billing.Stream(cid, p)
	issued := false
	_, err := b.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		issued = false
		if err := lockStream(ctx, tx, stream); err != nil {
			return err
		}
		cmd, ledger, version, err := b.gather(ctx, tx, cid, p)
		if err != nil {
			return err
		}
		events, err := ledger.Issue(cmd, b.Now())
		if err != nil {
			return err
		}
		if _, err := b.Append(ctx, tx, stream, eventstore.Exactly(version), cid, events...); err != nil {
			return err
		}
		issued = len(events) > 0
		return nil
	})
	return issued, err
}

// periodOrders loads the completed orders of stream that may concern
// period p, in reference order: one-off and free orders completed within
// a day of it, reservations placed before its end whose term (plus a
// month's margin) reaches its start. Compute and gather keep to the
// exact rules; this only leaves out what cannot concern p.
func (b *Billing) periodOrders(ctx context.Context, tx *eventstore.Tx, stream string, p billing.Period) ([]order.Order, error) {
	from, to := p.First().Time().AddDate(0, 0, -1), p.Last().Time().AddDate(0, 0, 2)
	rows, err := tx.Pgx().Query(ctx, `
SELECT e.ref, e.stream_version FROM order_billing o JOIN order_events e ON e.ref = o.ref AND e.stream_id = o.stream_id
WHERE o.stream_id = $1 AND o.completed_at IS NOT NULL
  AND CASE WHEN o.kind = $4 THEN o.placed_at < $3 AND o.placed_at + make_interval(months => o.duration_months + 2) >= $2
           ELSE o.completed_at >= $2 AND o.completed_at < $3 END
ORDER BY e.ref, e.stream_version`, stream, from, to, string(catalog.KindReservation))
	if err != nil {
		return nil, fmt.Errorf("orders of %s for %s: %w", stream, p, err)
	}
	type refVersion struct {
		Ref     string
		Version int64
	}
	found, err := pgx.CollectRows(rows, pgx.RowToStructByPos[refVersion])
	if err != nil {
		return nil, fmt.Errorf("orders of %s for %s: %w", stream, p, err)
	}
	versions := make([]int64, len(found))
	refOf := make(map[int64]string, len(found))
	for i, f := range found {
		versions[i], refOf[f.Version] = f.Version, f.Ref
	}
	recs, _, err := tx.LoadVersions(ctx, stream, versions)
	if err != nil {
		return nil, err
	}
	b.loaded(stream, len(recs))
	byRef := map[string]*order.Order{}
	var refs []string
	for _, rec := range recs {
		ref := refOf[rec.Version]
		o := byRef[ref]
		if o == nil {
			ord := order.For(ref)
			o = &ord
			byRef[ref] = o
			refs = append(refs, ref)
		}
		if _, err := b.Fold([]eventstore.Record{rec}, o); err != nil {
			return nil, err
		}
	}
	slices.Sort(refs)
	out := make([]order.Order, len(refs))
	for i, ref := range refs {
		out[i] = *byRef[ref]
	}
	return out, nil
}

// Preview returns the invoice contract cid would get for period p if it
// were issued now: the pre-invoice of a period not invoiced yet. For an
// invoiced period it is the invoice's content.
func (b *Billing) Preview(ctx context.Context, cid string, p billing.Period) (billing.Invoice, error) {
	var inv billing.Invoice
	err := b.Store.Transact(ctx, func(tx *eventstore.Tx) error {
		cmd, ledger, _, err := b.gather(ctx, tx, cid, p)
		if err != nil {
			return err
		}
		if issued, ok := ledger.Issued(); ok {
			inv = billing.Invoice{Period: p, Lines: issued.Lines, TotalExclVAT: issued.TotalExclVAT}
			return nil
		}
		inv, err = billing.Compute(billing.Input{Period: p, Subscriptions: cmd.Subscriptions, OneOffs: cmd.OneOffs, Usage: ledger.Usage()})
		return err
	})
	return inv, err
}

// gather loads what the invoice of cid for p is computed from: the
// contract's orders that may concern p (one-off orders completed around
// it, reservations whose subscription may run during it), and the
// period's ledger. The orders are found through order_billing, an index
// the database keeps beside the events, and only their own events are
// loaded: the cost follows the period's orders, not the contract's whole
// order book.
func (b *Billing) gather(ctx context.Context, tx *eventstore.Tx, cid string, p billing.Period) (billing.IssueInvoice, billing.Ledger, int64, error) {
	cmd := billing.IssueInvoice{ContractID: cid, Period: p}
	stream := order.Stream(cid)
	orders, err := b.periodOrders(ctx, tx, stream, p)
	if err != nil {
		return cmd, billing.Ledger{}, 0, err
	}
	for _, o := range orders {
		if oneOff, ok := billing.OneOffFrom(o); ok {
			cmd.OneOffs = append(cmd.OneOffs, oneOff)
			continue
		}
		placed := o.Placed()
		if o.Status() != order.StatusCompleted || placed.Kind != catalog.KindReservation {
			continue
		}
		// Skip subscriptions that cannot touch the period without loading
		// them: their terms follow from the order.
		start, end := subscription.Terms(placed.PlacedAt, placed.DurationMonths)
		if end.Before(p.First()) || start.After(p.Last()) {
			continue
		}
		var sub subscription.Subscription
		if _, err := b.Load(ctx, tx, subscription.Stream(o.Ref()), &sub); err != nil {
			return cmd, billing.Ledger{}, 0, err
		}
		if sub.Exists() {
			cmd.Subscriptions = append(cmd.Subscriptions, billing.SubscriptionFrom(sub.Details()))
		}
	}
	var ledger billing.Ledger
	version, err := b.Load(ctx, tx, billing.Stream(cid, p), &ledger)
	if err != nil {
		return cmd, billing.Ledger{}, 0, err
	}
	return cmd, ledger, version, nil
}
