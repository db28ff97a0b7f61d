package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/commands"
	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/billing"
	"selfcare/domain/catalog"
	"selfcare/domain/contract"
	"selfcare/domain/identity"
	"selfcare/domain/membership"
	"selfcare/domain/money"
	"selfcare/domain/operator"
	"selfcare/domain/order"
	"selfcare/domain/registry"
	"selfcare/domain/subscription"
	"selfcare/eventstore"
	"selfcare/internal/clock"
	"selfcare/internal/notifier"
)

// SeedConfig says how big a history Seed writes.
type SeedConfig struct {
	// Events is about how many events to store (Seed stops at the first
	// contract that reaches it).
	Events int
	// Workers seeding contracts at once (default 4).
	Workers int
}

// Seeded tells what Seed wrote.
type Seeded struct {
	Events    int64 // counted in the events table afterwards
	Contracts int
	Elapsed   time.Duration
	// BigContract has BigOrders orders; its referent, BigReferent, is a
	// manager of every section with no password yet.
	BigContract string
	BigReferent string
	BigOrders   int
	// LongMember is a user of BigContract whose membership holds
	// RoleChanges RolesChanged events.
	LongMember  string
	RoleChanges int
}

// PerSecond is the seeding rate in events per second.
func (s Seeded) PerSecond() float64 { return float64(s.Events) / s.Elapsed.Seconds() }

// BigOrders and RoleChanges of a history of n events: one order in a
// hundred events on the big contract, one role change in a thousand on
// the long membership (10,000 and 1,000 for a million events).
func bigOrders(n int) int   { return max(n/100, 20) }
func roleChanges(n int) int { return max(n/1000, 5) }

// Seed writes a history of about cfg.Events events into env's database,
// spread over the last two years: contracts with their users, role
// changes, access links, first passwords and forgotten-password resets,
// orders completed or rejected, the subscriptions of completed
// reservations started and ended, monthly usage reports and invoices; and
// one big contract (see Seeded). The server's consumer groups then start
// after it (see reactedTo).
//
// What has side effects beyond events (a contract's number, an identity's
// email claim) goes through the command side, commands.Contracts and
// commands.Users, on a clock set to the simulated time; the rest is decided
// by the domain's aggregates, folded in memory, and appended with the same
// envelopes and metadata as the commands would write, a contract's
// streams in one transaction. Its connections do not wait for the WAL
// flush (synchronous_commit off): a crash could lose the last seeded
// contracts, never split one.
func Seed(ctx context.Context, env *Env, cfg SeedConfig) (Seeded, error) {
	if cfg.Events <= 0 {
		return Seeded{}, errors.New("bench: seed: no events to seed")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	pcfg := env.Pool.Config().Copy()
	if pcfg.ConnConfig.RuntimeParams == nil {
		pcfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	pcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	pcfg.MaxConns = int32(cfg.Workers)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return Seeded{}, err
	}
	defer pool.Close()

	start := time.Now()
	s := &seeder{
		store:   eventstore.New(pool, clock.Real{}),
		reg:     registry.All(),
		catalog: catalog.Default(),
		logger:  env.Logger,
		today:   time.Now().UTC(),
		target:  int64(cfg.Events),
	}
	s.from = s.today.AddDate(-2, 0, 0)
	out := Seeded{BigOrders: bigOrders(cfg.Events), RoleChanges: roleChanges(cfg.Events)}

	// The big contract first, alone: it gets the first contract number.
	w := s.worker(1)
	big, err := w.contract(ctx, shape{orders: out.BigOrders, extraUsers: 2, longChanges: out.RoleChanges, since: s.from})
	if err != nil {
		return out, err
	}
	out.BigContract, out.BigReferent, out.LongMember = big.id, big.referent, big.long
	out.Contracts = 1

	var contracts atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, cfg.Workers)
	progress := time.NewTicker(5 * time.Second)
	defer progress.Stop()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-progress.C:
				n := s.events.Load()
				env.Logger.Info("bench: seeding", "events", n, "of", s.target, "contracts", contracts.Load()+1,
					"events/s", int(float64(n)/time.Since(start).Seconds()))
			}
		}
	}()
	for i := range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := s.worker(uint64(i + 2))
			for s.events.Load() < s.target && !s.failed.Load() && ctx.Err() == nil {
				if _, err := w.contract(ctx, w.regular()); err != nil {
					errs[i] = err
					s.failed.Store(true) // the others stop after their contract
					return
				}
				contracts.Add(1)
			}
		}()
	}
	wg.Wait()
	close(done)
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return out, fmt.Errorf("bench: seed: %w", err)
	}
	out.Contracts += int(contracts.Load())
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&out.Events); err != nil {
		return out, err
	}
	if err := reactedTo(ctx, s.store); err != nil {
		return out, err
	}
	out.Elapsed = time.Since(start)
	env.Logger.Info("bench: seeded", "events", out.Events, "contracts", out.Contracts, "elapsed", out.Elapsed.Round(time.Millisecond),
		"events/s", int(out.PerSecond()))
	return out, nil
}

// ReactedGroups are the server's own bus consumer groups (commands.Reactions
// and the notifier's), which react to events once.
var reactedGroups = []string{"reactions", notifier.Group}

// reactedTo moves the offsets of the server's consumer groups to the head
// of the log: the seeded history is one a running server has already
// reacted to (the access links are in it) and mailed about. Otherwise
// the first start would send a mail for every link and order of two years
// while the bench measures.
func reactedTo(ctx context.Context, store *eventstore.Store) error {
	// The last seeded event, not Head: a transaction of another database
	// of the cluster may still hide the last ones from gap-safe readers,
	// and the consumers would then react to them again.
	var head int64
	if err := store.Pool().QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&head); err != nil {
		return err
	}
	for _, group := range reactedGroups {
		if _, err := store.Pool().Exec(ctx, `
INSERT INTO bus_offsets (topic, consumer_group, offset_acked) VALUES ($1, $2, $3)
ON CONFLICT (topic, consumer_group) DO UPDATE SET offset_acked = greatest(bus_offsets.offset_acked, excluded.offset_acked)`,
			eventstore.TopicAll, group, head); err != nil {
			return fmt.Errorf("bench: seed: consumer group %s: %w", group, err)
		}
	}
	return nil
}

type seeder struct {
	store    *eventstore.Store
	reg      *registry.Registry
	catalog  *catalog.Catalog
	logger   *slog.Logger
	from     time.Time // the simulated history runs from here to today
	today    time.Time
	target   int64
	events   atomic.Int64 // stored so far (counted as they are appended)
	numbered atomic.Int64 // contracts started, for unique names
	failed   atomic.Bool
}

// worker is one seeding goroutine: its own command side, on its own
// simulated clock, and its own random numbers.
type worker struct {
	*seeder
	clock     *clock.Manual
	app       *commands.App
	contracts *commands.Contracts
	users     *commands.Users
	rng       *rand.Rand
}

func (s *seeder) worker(seed uint64) *worker {
	clk := clock.NewManual(s.from)
	app := &commands.App{Store: s.store, Registry: s.reg, Clock: clk, Logger: quiet(s.logger)}
	return &worker{
		seeder: s, clock: clk, app: app,
		contracts: &commands.Contracts{App: app}, users: &commands.Users{App: app},
		rng: rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano()))),
	}
}

// within draws a duration in (0, d], or 1 ns if d is not positive.
func (w *worker) within(d time.Duration) time.Duration {
	if d <= 1 {
		return 1
	}
	return time.Duration(w.rng.Int64N(int64(d)) + 1)
}

// shape is what one contract's history holds.
type shape struct {
	orders      int
	extraUsers  int       // users beside the referent
	longChanges int       // role changes of the first extra user (0: a few, as the others)
	since       time.Time // the contract's creation
}

// regular draws the shape of an ordinary contract: about 150 events.
func (w *worker) regular() shape {
	span := w.today.Sub(w.from) - 30*24*time.Hour
	return shape{
		orders:     10 + w.rng.IntN(51),
		extraUsers: 1 + w.rng.IntN(3),
		since:      w.from.Add(time.Duration(w.rng.Int64N(int64(span)))),
	}
}

type seededContract struct {
	id, referent, long string
}

// timed is an event of a stream at a simulated instant, with its actor.
type timed struct {
	at    time.Time
	actor commands.Actor
	event domain.Event
	// contract is the metadata's contract: the history's own unless
	// noContract (identities' events outside an access link).
	noContract bool
	id         uuid.UUID // the event's id when derived (a reaction's), else a new one
}

// history collects a contract's streams before they are appended.
type history struct {
	streams []string
	events  map[string][]timed
	version map[string]int64
}

func (h *history) add(stream string, at time.Time, actor commands.Actor, events ...domain.Event) {
	for _, e := range events {
		h.addTimed(stream, timed{at: at, actor: actor, event: e})
	}
}

func (h *history) addTimed(stream string, t timed) {
	if _, ok := h.events[stream]; !ok {
		h.streams = append(h.streams, stream)
		h.events[stream] = nil
	}
	if t.event != nil {
		h.events[stream] = append(h.events[stream], t)
	}
}

func operatorActor() commands.Actor {
	return commands.Actor{Kind: commands.ActorOperator, Login: operator.BootstrapPrefix + "admin", IP: "10.0.0.2", RequestID: randomHex(12)}
}

func (w *worker) userActor(login string) commands.Actor {
	return commands.Actor{Kind: commands.ActorUser, Login: login, IP: fmt.Sprintf("192.0.2.%d", 1+w.rng.IntN(250)), RequestID: randomHex(12)}
}

// contract seeds one contract's whole history.
func (w *worker) contract(ctx context.Context, sh shape) (seededContract, error) {
	n := w.numbered.Add(1)
	w.clock.Set(sh.since)
	suffix := fmt.Sprintf("%06d%s", n, randomHex(3))
	login := "ref." + suffix
	op := commands.WithActor(ctx, operatorActor())
	created, err := w.contracts.Create(op, contract.CreateInput{
		Name: "Scale " + suffix, Offer: "Flexible Engine",
		Company:        contract.Company{LegalName: "SCALE " + suffix, SIRET: "50161528000036", ReferentName: "Referent " + suffix, ReferentEmail: login + "@example.com"},
		InvoiceContact: contract.Contact{Phone: "+33 1 00 00 00 01", Email: "invoices." + suffix + "@example.com"},
		SupportContact: contract.SupportContact{Phone: "+33 1 00 00 00 02", Email: "support." + suffix + "@example.com", Hours: "24/7"},
		Referent: identity.RegistrationInput{Login: login, Email: login + "@example.com", PersonInput: identity.PersonInput{
			Civility: "mr", LastName: "Referent", FirstName: "Rita", Phone: "+33 1 23 45 67 89", Language: "en",
		}},
	})
	if err != nil {
		return seededContract{}, fmt.Errorf("create a contract: %w", err)
	}
	out := seededContract{id: created.ID, referent: created.ReferentLogin}
	cid := created.ID
	events := int64(4) // ContractCreated, the referent's identity, email claim and membership
	logins := []string{created.ReferentLogin}
	addedAt := []time.Time{sh.since}
	asReferent := commands.WithActor(ctx, w.userActor(created.ReferentLogin))
	for i := range sh.extraUsers {
		w.clock.Advance(time.Duration(1+w.rng.IntN(48)) * time.Hour)
		u := fmt.Sprintf("user%d.%s", i+1, suffix)
		added, err := w.users.Add(asReferent, cid, membership.AllRoles, commands.UserInput{
			RegistrationInput: identity.RegistrationInput{Login: u, Email: u + "@example.com", PersonInput: identity.PersonInput{
				Civility: "mrs", LastName: "User", FirstName: "Ursula", Phone: "+33 1 23 45 67 00", Language: "fr",
			}},
			Profiles: map[string]string{"orders": "visitor", "subscriptions": "visitor"},
		})
		if err != nil {
			return out, fmt.Errorf("add a user: %w", err)
		}
		logins = append(logins, added.Login)
		addedAt = append(addedAt, w.clock.Now())
		events += 3
	}
	if sh.extraUsers > 0 {
		out.long = logins[1]
	}

	// Load what the domain decides on, as the commands would.
	h := &history{events: map[string][]timed{}, version: map[string]int64{}}
	var k contract.Contract
	members := make([]membership.Membership, len(logins))
	ids := make([]identity.Identity, len(logins))
	additions := make([]eventstore.Record, len(logins)) // each UserAddedToContract
	err = w.store.Transact(ctx, func(tx *eventstore.Tx) error {
		if _, err := w.app.Load(ctx, tx, contract.Stream(cid), &k); err != nil {
			return err
		}
		for i, l := range logins {
			recs, err := tx.Load(ctx, membership.Stream(cid, l), 0)
			if err != nil {
				return err
			}
			additions[i] = recs[0]
			v, err := w.app.Fold(recs, &members[i])
			if err != nil {
				return err
			}
			h.version[membership.Stream(cid, l)] = v
			if v, err = w.app.Load(ctx, tx, identity.Stream(l), &ids[i]); err != nil {
				return err
			}
			h.version[identity.Stream(l)] = v
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	at := w.clock.Now()
	until := w.today.Add(-time.Hour)

	// Role changes: the referent toggles the orders profile of its users.
	for i := 1; i < len(logins); i++ {
		changes := w.rng.IntN(5)
		if i == 1 && sh.longChanges > 0 {
			changes = sh.longChanges
		}
		m := members[i]
		t := at
		step := until.Sub(at) / time.Duration(changes+1)
		for c := range changes {
			t = t.Add(w.within(step))
			profile := "none"
			if c%2 == 0 {
				profile = "visitor"
			}
			ps, err := access.ParseProfilesOver(m.Roles().Profiles, map[string]string{"orders": profile, "dashboard": profile})
			if err != nil {
				return out, err
			}
			evs, err := m.ChangeRoles(membership.ChangeRoles{By: membership.AllRoles, Actor: created.ReferentLogin, Profiles: ps, Console: m.Roles().Console}, t)
			if err != nil {
				return out, fmt.Errorf("change roles: %w", err)
			}
			for _, e := range evs {
				m.Apply(e)
			}
			h.add(membership.Stream(cid, logins[i]), t, w.userActor(created.ReferentLogin), evs...)
		}
	}

	// Each new identity gets its access link (the server's reaction to its
	// addition), and most set their first password through it; then
	// some forget it now and then. The big contract's referent gets a
	// password of the bench's own.
	for i, l := range logins {
		big := sh.longChanges > 0 && i == 0
		if err := w.passwords(h, cid, ids[i], additions[i], addedAt[i], until, big); err != nil {
			return out, fmt.Errorf("passwords of %s: %w", l, err)
		}
	}

	if err := w.orders(k, sh, created.ReferentLogin, at, until, h); err != nil {
		return out, err
	}
	n2, err := w.append(ctx, cid, h)
	w.events.Add(events + n2)
	return out, err
}

// passwords decides an identity's access link, sent by the server's
// reaction to addition (as commands.Reactions does), then the first
// password set through it and a few forgotten-password resets.
func (w *worker) passwords(h *history, cid string, id identity.Identity, addition eventstore.Record, addedAt, until time.Time, noPassword bool) error {
	stream := identity.Stream(id.Login().String())
	reaction := commands.Actor{Kind: commands.ActorSystem, Login: "system:reactions",
		CorrelationID: addition.Metadata.CorrelationID, CausationID: addition.EventID.String()}
	t := addedAt.Add(time.Duration(20+w.rng.IntN(200)) * time.Millisecond).Truncate(time.Microsecond)
	link, err := id.RequestPasswordReset(t)
	if err != nil {
		return err
	}
	id.Apply(link[0])
	h.addTimed(stream, timed{at: t, actor: reaction, event: link[0], id: uuid.NewSHA1(addition.EventID, []byte("reaction:0"))})
	if noPassword || w.rng.IntN(100) >= 85 {
		return nil
	}
	anonymous := func() commands.Actor {
		return commands.Actor{Kind: "anonymous", IP: fmt.Sprintf("198.51.100.%d", 1+w.rng.IntN(250)), RequestID: randomHex(12)}
	}
	resets := 1 + w.rng.IntN(3) // the first through the access link
	for r := range resets {
		if r > 0 {
			t = t.Add(w.within(until.Sub(t) / 3)).Truncate(time.Microsecond)
			if until.Sub(t) < 48*time.Hour {
				return nil // no link still valid: the notifier would mail it
			}
			req, err := id.RequestPasswordReset(t)
			if err != nil {
				return err
			}
			id.Apply(req[0])
			h.addTimed(stream, timed{at: t, actor: anonymous(), event: req[0], noContract: true})
		}
		set := t.Add(time.Duration(1+w.rng.IntN(600)) * time.Minute)
		evs, err := id.ResetPassword(t, set)
		if err != nil {
			return err
		}
		id.Apply(evs[0])
		h.addTimed(stream, timed{at: set, actor: anonymous(), event: evs[0], noContract: true})
		t = set
	}
	return nil
}

// orders decides the contract's orders, their completion, the
// subscriptions of the reservations and the monthly ledgers.
func (w *worker) orders(k contract.Contract, sh shape, placer string, from, until time.Time, h *history) error {
	cid := k.ID()
	code := order.ContractCode(cid, k.Name())
	stream := order.Stream(cid)
	h.addTimed(stream, timed{}) // before the subscriptions it creates
	times := make([]time.Time, sh.orders)
	for i := range times {
		times[i] = from.Add(w.within(until.Sub(from)))
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })

	var orderEvents []timed
	var subs []timed // SubscriptionCreated, at completion
	type done struct {
		ord order.Order
		at  time.Time
	}
	var completed []done
	for i, placedAt := range times {
		q, err := w.quote()
		if err != nil {
			return err
		}
		evs, err := order.Place(order.PlaceOrder{ContractID: cid, ServiceCode: q.ServiceCode, PlacedBy: placer}, q, i+1, code, placedAt)
		if err != nil {
			return fmt.Errorf("place an order: %w", err)
		}
		orderEvents = append(orderEvents, timed{at: placedAt, actor: w.userActor(placer), event: evs[0]})
		placed := evs[0].(order.OrderPlaced)
		ord := order.For(placed.Ref)
		ord.Apply(evs[0])
		decidedAt := placedAt.Add(time.Duration(1+w.rng.IntN(72)) * time.Hour)
		if decidedAt.After(until) {
			continue // still in progress
		}
		roll := w.rng.IntN(100)
		if roll < 10 {
			evs, err = ord.Reject("out of stock in this region", decidedAt)
		} else {
			evs, err = ord.Complete(decidedAt)
		}
		if err != nil {
			return fmt.Errorf("decide an order: %w", err)
		}
		op := operatorActor()
		orderEvents = append(orderEvents, timed{at: decidedAt, actor: op, event: evs[0]})
		ord.Apply(evs[0])
		if ord.Status() != order.StatusCompleted {
			continue
		}
		completed = append(completed, done{ord, decidedAt})
		if placed.Kind != catalog.KindReservation {
			continue
		}
		var sub subscription.Subscription
		created, err := sub.Create(ord)
		if err != nil {
			return fmt.Errorf("create a subscription: %w", err)
		}
		for _, e := range created {
			sub.Apply(e)
		}
		ss := subscription.Stream(ord.Ref())
		h.add(ss, decidedAt, op, created...)
		subs = append(subs, timed{at: decidedAt, actor: op, event: created[0]})
		today := subscription.DateOf(until)
		scheduler := commands.Actor{Kind: commands.ActorSystem, Login: commands.SchedulerActor}
		for _, d := range []subscription.Date{sub.StartDate(), sub.EndDate().AddDays(1)} {
			if d.After(today) {
				break
			}
			evs, err := sub.Advance(d)
			if err != nil {
				return fmt.Errorf("advance a subscription: %w", err)
			}
			for _, e := range evs {
				sub.Apply(e)
			}
			h.add(ss, d.Time().Add(2*time.Hour), scheduler, evs...)
		}
	}
	slices.SortStableFunc(orderEvents, func(a, b timed) int { return a.at.Compare(b.at) })
	h.events[stream] = orderEvents

	// Monthly ledgers, from the contract's first month to last month.
	last := billing.PeriodOf(subscription.DateOf(until)).Prev()
	for p := billing.PeriodOf(subscription.DateOf(from)); !p.First().After(last.First()); p = p.Next() {
		ls := billing.Stream(cid, p)
		var ledger billing.Ledger
		reportedAt := p.Last().Time().Add(22 * time.Hour)
		rep, err := ledger.ReportUsage(billing.ReportUsage{ContractID: cid, Period: p, Lines: []billing.UsageLine{
			{Item: "Outbound traffic, GB", Quantity: billing.QuantityOf(int64(w.rng.IntN(5000))), UnitPrice: money.MustParseUnitPrice("0.0125")},
			{Item: "Object storage, GB-month", Quantity: billing.QuantityOf(int64(w.rng.IntN(800))), UnitPrice: money.MustParseUnitPrice("0.021")},
		}}, reportedAt)
		if err != nil {
			return fmt.Errorf("report usage: %w", err)
		}
		ledger.Apply(rep[0])
		op := operatorActor()
		h.add(ls, reportedAt, op, rep...)
		issuedAt := p.Next().First().Time().Add(3 * time.Hour)
		cmd := billing.IssueInvoice{ContractID: cid, Period: p}
		for _, c := range completed {
			if !c.at.Before(issuedAt) {
				break
			}
			if oneOff, ok := billing.OneOffFrom(c.ord); ok {
				cmd.OneOffs = append(cmd.OneOffs, oneOff)
			}
		}
		for _, s := range subs {
			created := s.event.(subscription.SubscriptionCreated)
			if s.at.Before(issuedAt) && !created.EndDate.Before(p.First()) && !created.StartDate.After(p.Last()) {
				cmd.Subscriptions = append(cmd.Subscriptions, billing.SubscriptionFrom(created))
			}
		}
		inv, err := ledger.Issue(cmd, issuedAt)
		if err != nil {
			return fmt.Errorf("issue an invoice: %w", err)
		}
		h.add(ls, issuedAt, op, inv...)
	}
	return nil
}

// quote draws an order: a reservation six times in ten, else a one-off
// service, with plausible parameters.
func (w *worker) quote() (catalog.Quote, error) {
	regions := []string{"eu-west-0", "eu-west-1", "eu-west-2"}
	region := regions[w.rng.IntN(len(regions))]
	if w.rng.IntN(10) < 6 {
		flavors := []string{"s3.small", "s3.medium", "s3.large", "s3.xlarge"}
		return w.catalog.Quote("AD135", map[string]any{
			"region": region, "flavor": flavors[w.rng.IntN(len(flavors))],
			"duration_months": []int{12, 24, 36}[w.rng.IntN(3)], "upfront": w.rng.IntN(2) == 0,
		})
	}
	switch w.rng.IntN(4) {
	case 0:
		return w.catalog.Quote("PS104", nil)
	case 1:
		return w.catalog.Quote("PS108", nil)
	case 2:
		return w.catalog.Quote("NW210", map[string]any{"region": region})
	default:
		return w.catalog.Quote("ST320", map[string]any{"region": region})
	}
}

// maxSeedTx bounds the events of one seeding transaction: the big
// contract's history spans several.
const maxSeedTx = 20000

// append appends h's streams, each at the version it was loaded at, in as
// few transactions as maxSeedTx allows, and returns how many events it
// stored.
func (w *worker) append(ctx context.Context, cid string, h *history) (int64, error) {
	var stored int64
	type chunk struct {
		stream string
		events []eventstore.Event
	}
	var batch []chunk
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := w.store.Transact(ctx, func(tx *eventstore.Tx) error {
			for _, c := range batch {
				if _, err := tx.Append(ctx, c.stream, eventstore.Exactly(h.version[c.stream]), c.events...); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, c := range batch {
			h.version[c.stream] += int64(len(c.events))
			stored += int64(len(c.events))
		}
		batch, size = batch[:0], 0
		return nil
	}
	for _, stream := range h.streams {
		evs := h.events[stream]
		for len(evs) > 0 {
			n := min(len(evs), maxSeedTx-size)
			var envs []eventstore.Event
			for _, t := range evs[:n] {
				contract := cid
				if t.noContract {
					contract = ""
				}
				e, err := w.app.Envelopes(commands.WithActor(ctx, t.actor), contract, t.event)
				if err != nil {
					return stored, err
				}
				if t.id != uuid.Nil {
					e[0].ID = t.id
				}
				envs = append(envs, e...)
			}
			batch = append(batch, chunk{stream, envs})
			size += n
			evs = evs[n:]
			if size >= maxSeedTx {
				if err := flush(); err != nil {
					return stored, err
				}
			}
		}
	}
	return stored, flush()
}
