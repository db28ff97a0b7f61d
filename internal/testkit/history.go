package testkit

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"selfcare/commands"
	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/billing"
	"selfcare/domain/catalog"
	"selfcare/domain/contract"
	"selfcare/domain/membership"
	"selfcare/domain/order"
	"selfcare/domain/subscription"
	"selfcare/eventstore"
)

// History records domain history through the command side (commands):
// each call loads the streams it decides on, asks the domain's decisions,
// and appends with the actor's metadata in one transaction, retrying on a
// concurrent change. Tests use it to produce events whose HTTP commands
// are not their subject (membership, orders, subscriptions, invoices).
// Its methods return errors instead of failing the test, so they may be
// called from many goroutines.
type History struct {
	app *commands.App
}

// History returns the recorder of the test server's history.
func (e *Env) History() History { return History{app: e.Server.App} }

// UserActor is a signed-in user acting from a test address.
func UserActor(login string) commands.Actor {
	return commands.Actor{Kind: commands.ActorUser, Login: login, IP: "192.0.2.10", RequestID: Unique("req-")}
}

// OperatorActor is the back office.
func OperatorActor() commands.Actor {
	return commands.Actor{Kind: commands.ActorOperator, Login: "operator", IP: "198.51.100.7", RequestID: Unique("req-")}
}

// SystemActor is work selfcare does by itself (scheduler, billing run).
func SystemActor(part string) commands.Actor {
	return commands.Actor{Kind: commands.ActorSystem, Login: "system:" + part, RequestID: Unique("job-")}
}

// Append appends events to stream (whatever its version) as one command
// of actor, and returns the position of the last.
func (h History) Append(actor commands.Actor, stream, contractID string, events ...domain.Event) (int64, error) {
	ctx := commands.WithActor(context.Background(), actor)
	return h.app.Execute(ctx, commands.RetryOnConflict, func(tx *eventstore.Tx) error {
		_, err := h.app.Append(ctx, tx, stream, eventstore.Any, contractID, events...)
		return err
	})
}

// command runs fn as one command of actor, again on a concurrent change.
func (h History) command(actor commands.Actor, fn func(ctx context.Context, tx *eventstore.Tx) error) error {
	ctx := commands.WithActor(context.Background(), actor)
	_, err := h.app.Execute(ctx, commands.RetryOnConflict, func(tx *eventstore.Tx) error { return fn(ctx, tx) })
	return err
}

// decide runs one command of actor on one stream: fold it into a fresh
// aggregate (each attempt), decide, append expecting the loaded version.
func decide[A any, PA interface {
	*A
	commands.Aggregate
}](h History, actor commands.Actor, stream, cid string, fn func(ctx context.Context, tx *eventstore.Tx, agg A) ([]domain.Event, error)) error {
	return h.command(actor, func(ctx context.Context, tx *eventstore.Tx) error {
		var agg A
		version, err := h.app.Load(ctx, tx, stream, PA(&agg))
		if err != nil {
			return err
		}
		events, err := fn(ctx, tx, agg)
		if err != nil {
			return err
		}
		_, err = h.app.Append(ctx, tx, stream, eventstore.Exactly(version), cid, events...)
		return err
	})
}

// AddUser declares login, an existing identity (say, the referent of
// another contract), on contract cid with roles.
func (h History) AddUser(actor commands.Actor, cid, login string, roles access.Roles) error {
	return decide(h, actor, membership.Stream(cid, login), cid, func(_ context.Context, _ *eventstore.Tx, m membership.Membership) ([]domain.Event, error) {
		return m.Add(membership.Add{ContractID: cid, Login: login, Profiles: roles.Profiles, Console: roles.Console,
			By: membership.AllRoles, AddedBy: actor.Login}, h.app.Now())
	})
}

// ChangeRoles sets the roles of a member of cid.
func (h History) ChangeRoles(actor commands.Actor, cid, login string, roles access.Roles) error {
	return decide(h, actor, membership.Stream(cid, login), cid, func(_ context.Context, _ *eventstore.Tx, m membership.Membership) ([]domain.Event, error) {
		return m.ChangeRoles(membership.ChangeRoles{By: membership.AllRoles, Profiles: roles.Profiles, Console: roles.Console}, h.app.Now())
	})
}

// RemoveUser takes a member off cid.
func (h History) RemoveUser(actor commands.Actor, cid, login string) error {
	return decide(h, actor, membership.Stream(cid, login), cid, func(_ context.Context, _ *eventstore.Tx, m membership.Membership) ([]domain.Event, error) {
		return m.Remove(membership.AllRoles, "", h.app.Now())
	})
}

// Roles builds roles from "section=profile" pairs over the defaults and
// console role names (which must be predefined ones).
func Roles(profiles string, console ...string) access.Roles {
	m := map[string]string{}
	for _, kv := range strings.Fields(profiles) {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	ps, err := access.ParseProfiles(m)
	if err != nil {
		panic(err)
	}
	c, err := access.NewConsoleRoles(console, nil)
	if err != nil {
		panic(err)
	}
	return access.Roles{Profiles: ps, Console: c}
}

// OrdersStream, SubscriptionStream and LedgerStream name the commerce
// streams (see the package comments of domain/order, domain/subscription
// and domain/billing).
func OrdersStream(cid string) string                   { return "orders-" + cid }
func SubscriptionStream(ref string) string             { return "subscription-" + ref }
func LedgerStream(cid string, p billing.Period) string { return "billing-" + cid + "-" + p.String() }

// PlaceOrder records an order of the catalog service code with params
// for contract cid, placed by actor, and returns its reference.
func (h History) PlaceOrder(actor commands.Actor, cid, code string, params map[string]any) (string, error) {
	quote, err := catalog.Default().Quote(code, params)
	if err != nil {
		return "", err
	}
	var ref string
	err = decide(h, actor, OrdersStream(cid), cid, func(ctx context.Context, tx *eventstore.Tx, counter order.Counter) ([]domain.Event, error) {
		var k contract.Contract
		if _, err := h.app.Load(ctx, tx, contract.Stream(cid), &k); err != nil {
			return nil, err
		}
		if !k.Exists() {
			return nil, fmt.Errorf("contract %s: %w", cid, domain.ErrNotFound)
		}
		events, err := order.Place(order.PlaceOrder{ContractID: cid, ServiceCode: code, PlacedBy: actor.Login},
			quote, counter.Next(), order.ContractCode(cid, k.Name()), h.app.Now())
		if err == nil {
			ref = events[0].(order.OrderPlaced).Ref
		}
		return events, err
	})
	return ref, err
}

// CompleteOrder records the completion of order ref of cid by the back
// office, and the creation of its subscription for a reservation.
func (h History) CompleteOrder(actor commands.Actor, cid, ref string) error {
	return h.command(actor, func(ctx context.Context, tx *eventstore.Tx) error {
		o := order.For(ref)
		version, err := h.app.Load(ctx, tx, OrdersStream(cid), &o)
		if err != nil {
			return err
		}
		completed, err := o.Complete(h.app.Now())
		if err != nil {
			return err
		}
		if _, err := h.app.Append(ctx, tx, OrdersStream(cid), eventstore.Exactly(version), cid, completed...); err != nil {
			return err
		}
		for _, e := range completed {
			o.Apply(e)
		}
		var s subscription.Subscription
		sv, err := h.app.Load(ctx, tx, SubscriptionStream(ref), &s)
		if err != nil {
			return err
		}
		created, err := s.Create(o)
		if err != nil {
			return err
		}
		_, err = h.app.Append(ctx, tx, SubscriptionStream(ref), eventstore.Exactly(sv), cid, created...)
		return err
	})
}

// AdvanceSubscription records what is due on day today for subscription
// ref of cid: its start, its end, both or nothing.
func (h History) AdvanceSubscription(actor commands.Actor, cid, ref string, today subscription.Date) error {
	return decide(h, actor, SubscriptionStream(ref), cid, func(_ context.Context, _ *eventstore.Tx, s subscription.Subscription) ([]domain.Event, error) {
		return s.Advance(today)
	})
}

// IssueInvoice runs the billing of contract cid for period p: its
// completed one-off orders and its subscriptions. It reports whether an
// invoice was issued (none when there is nothing to bill or it exists).
func (h History) IssueInvoice(actor commands.Actor, cid string, p billing.Period) (bool, error) {
	issued := false
	err := decide(h, actor, LedgerStream(cid, p), cid, func(ctx context.Context, tx *eventstore.Tx, ledger billing.Ledger) ([]domain.Event, error) {
		recs, err := tx.Load(ctx, OrdersStream(cid), 0)
		if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
			return nil, err
		}
		cmd := billing.IssueInvoice{ContractID: cid, Period: p}
		orders := map[string]*order.Order{}
		var refs []string
		for _, rec := range recs {
			e, err := h.app.Decode(rec)
			if err != nil {
				return nil, err
			}
			if placed, ok := e.(order.OrderPlaced); ok {
				o := order.For(placed.Ref)
				orders[placed.Ref] = &o
				refs = append(refs, placed.Ref)
			}
			for _, o := range orders {
				o.Apply(e)
			}
		}
		for _, ref := range refs {
			if oneOff, ok := billing.OneOffFrom(*orders[ref]); ok {
				cmd.OneOffs = append(cmd.OneOffs, oneOff)
				continue
			}
			var s subscription.Subscription
			if _, err := h.app.Load(ctx, tx, SubscriptionStream(ref), &s); err != nil {
				return nil, err
			}
			if s.Exists() {
				cmd.Subscriptions = append(cmd.Subscriptions, billing.SubscriptionFrom(s.Details()))
			}
		}
		events, err := ledger.Issue(cmd, h.app.Now())
		issued = len(events) > 0
		return events, err
	})
	return issued, err
}
