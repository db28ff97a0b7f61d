package commands

import (
	"context"
	"fmt"

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
// contract's orders (one-off orders completed, reservations whose
// subscription may run during p) and the period's ledger.
func (b *Billing) gather(ctx context.Context, tx *eventstore.Tx, cid string, p billing.Period) (billing.IssueInvoice, billing.Ledger, int64, error) {
	cmd := billing.IssueInvoice{ContractID: cid, Period: p}
	var book order.Book
	if _, err := b.Load(ctx, tx, order.Stream(cid), &book); err != nil {
		return cmd, billing.Ledger{}, 0, err
	}
	for _, o := range book.Orders() {
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
