package commands_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/commands"
	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/billing"
	"selfcare/domain/catalog"
	"selfcare/domain/console"
	"selfcare/domain/contract"
	"selfcare/domain/identity"
	"selfcare/domain/membership"
	"selfcare/domain/order"
	"selfcare/domain/registry"
	"selfcare/domain/subscription"
	"selfcare/eventstore"
	"selfcare/internal/clock"
	"selfcare/internal/testdb"
	"selfcare/migrations"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// loads counts the events each Load of the command side read, per stream.
type loads struct {
	mu   sync.Mutex
	last map[string]int
	max  map[string]int
}

func (l *loads) record(stream string, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last, l.max = map[string]int{}, map[string]int{}
	}
	l.last[stream] = n
	l.max[stream] = max(l.max[stream], n)
}

func (l *loads) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last, l.max = nil, nil
}

func (l *loads) get(stream string) (last, most int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last[stream], l.max[stream]
}

func newApp(t *testing.T) (*commands.App, *loads) {
	t.Helper()
	store := eventstore.New(testdb.New(t), clock.Real{})
	l := &loads{}
	app := &commands.App{
		Store:    store,
		Registry: registry.All(),
		Clock:    clock.Real{},
		Logger:   slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		Loaded:   l.record,
	}
	return app, l
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func operator() context.Context {
	return commands.WithActor(context.Background(), commands.Actor{Kind: commands.ActorOperator, Login: "operator"})
}

// appendEvents appends domain events to stream as one command.
func appendEvents(t *testing.T, app *commands.App, stream, cid string, events ...domain.Event) {
	t.Helper()
	ctx := operator()
	if _, err := app.Execute(ctx, commands.RetryOnConflict, func(tx *eventstore.Tx) error {
		_, err := app.Append(ctx, tx, stream, eventstore.Any, cid, events...)
		return err
	}); err != nil {
		t.Fatalf("append to %s: %v", stream, err)
	}
}

func createContract(t *testing.T, app *commands.App, cid string) {
	t.Helper()
	appendEvents(t, app, contract.Stream(cid), cid, contract.ContractCreated{
		ID: cid, Name: "SL_Prod", Offer: "Flexible Engine", CreatedOn: "2026-01-01", CreatedAt: time.Now().UTC(), ReferentLogin: "paul.dupont",
	})
}

// TestOrderCommandsLoadABoundedNumberOfEventsWhateverTheHistory places
// many orders on one contract and checks that neither placing the next one
// nor completing or rejecting any of them reads more than a bounded number
// of events of the contract's order stream, while references stay
// gap-free.
func TestOrderCommandsLoadABoundedNumberOfEventsWhateverTheHistory(t *testing.T) {
	app, l := newApp(t)
	const cid = "OCB0000124"
	createContract(t, app, cid)
	orders := &commands.Orders{App: app, Catalog: catalog.Default()}
	ctx := commands.WithActor(context.Background(), commands.Actor{Kind: commands.ActorUser, Login: "paul.dupont"})
	stream := order.Stream(cid)
	const n = 120
	refs := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		ref, err := orders.Place(ctx, commands.PlaceOrderInput{ContractID: cid, ServiceCode: "PS104"})
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		r, err := order.ParseRef(ref)
		if err != nil || r.Seq != i {
			t.Fatalf("order %d got reference %q (%v): numbers must be gap-free", i, ref, err)
		}
		refs = append(refs, ref)
		if i%10 == 0 {
			// Completions land in the same stream, between placements.
			if err := orders.Complete(operator(), refs[i-5]); err != nil {
				t.Fatalf("complete %s: %v", refs[i-5], err)
			}
		}
	}
	// A load folds at most SnapshotEvery events past the last snapshot,
	// plus those other commands (here one completion) appended since.
	if _, most := l.get(stream); most > commands.SnapshotEvery+1 {
		t.Errorf("a command read %d events of %s; want at most %d whatever its length", most, stream, commands.SnapshotEvery+1)
	}
	version, err := app.Store.Version(context.Background(), stream)
	if err != nil || version < n+n/10 {
		t.Fatalf("stream %s at version %d (%v), want at least %d", stream, version, err, n+n/10)
	}

	l.reset()
	if err := orders.Reject(operator(), refs[0], "out of stock"); err != nil {
		t.Fatalf("reject the first order: %v", err)
	}
	if last, _ := l.get(stream); last != 1 {
		t.Errorf("rejecting order #1 of %d read %d events; want its 1", n, last)
	}
	if err := orders.Complete(operator(), refs[n-1]); err != nil {
		t.Fatalf("complete the last order: %v", err)
	}
	if last, _ := l.get(stream); last != 1 {
		t.Errorf("completing order #%d read %d events; want its 1", n, last)
	}
	// A decided order is decided once: its completion is read back.
	if err := orders.Complete(operator(), refs[n-1]); err == nil {
		t.Errorf("completing order %s twice succeeded", refs[n-1])
	}
	if last, _ := l.get(stream); last != 2 {
		t.Errorf("loading a completed order read %d events; want its 2", last)
	}
	if err := orders.Complete(operator(), refs[0][:len(refs[0])-3]+"999"); err == nil {
		t.Error("completing an order never placed succeeded")
	}
}

// TestConcurrentOrdersKeepGapFreeNumbers: orders placed at once on one
// contract take every number once, snapshots or not.
func TestConcurrentOrdersKeepGapFreeNumbers(t *testing.T) {
	app, _ := newApp(t)
	const cid = "OCB0000125"
	createContract(t, app, cid)
	orders := &commands.Orders{App: app, Catalog: catalog.Default()}
	ctx := commands.WithActor(context.Background(), commands.Actor{Kind: commands.ActorUser, Login: "paul.dupont"})
	const workers, each = 4, 12
	seqs := make(chan int, workers*each)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ref, err := orders.Place(ctx, commands.PlaceOrderInput{ContractID: cid, ServiceCode: "PS104"})
				if err != nil {
					t.Errorf("place: %v", err)
					return
				}
				r, _ := order.ParseRef(ref)
				seqs <- r.Seq
			}
		}()
	}
	wg.Wait()
	close(seqs)
	seen := map[int]bool{}
	for s := range seqs {
		if seen[s] {
			t.Errorf("number %d given twice", s)
		}
		seen[s] = true
	}
	for s := 1; s <= workers*each; s++ {
		if !seen[s] {
			t.Errorf("number %d never given: a gap", s)
		}
	}
}

func roles(manager bool) access.Roles {
	p := access.DefaultProfiles()
	if manager {
		ps, err := access.ParseProfiles(map[string]string{"users": "manager"})
		if err != nil {
			panic(err)
		}
		p = ps
	}
	return access.Roles{Profiles: p}
}

// membershipHistory appends a membership and n role changes.
func membershipHistory(t *testing.T, app *commands.App, cid, login string, n int) string {
	t.Helper()
	stream := membership.Stream(cid, login)
	now := time.Now().UTC()
	events := []domain.Event{membership.UserAddedToContract{ContractID: cid, Login: login, Profiles: roles(false).Profiles, AddedBy: "operator", At: now}}
	for i := 0; i < n; i++ {
		events = append(events, membership.RolesChanged{ContractID: cid, Login: login, Before: roles(i%2 == 1), After: roles(i%2 == 0), At: now.Add(time.Duration(i) * time.Second)})
	}
	appendEvents(t, app, stream, cid, events...)
	return stream
}

// replayed folds the whole stream, without snapshots: the truth a
// snapshot must agree with.
func replayed(t *testing.T, app *commands.App, stream string) membership.Membership {
	t.Helper()
	recs, err := app.Store.Load(context.Background(), stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	var m membership.Membership
	if _, err := app.Fold(recs, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// loadMembership runs a read-only command that loads the membership.
func loadMembership(t *testing.T, app *commands.App, stream string) (membership.Membership, int64) {
	t.Helper()
	var m membership.Membership
	var version int64
	if err := app.Store.Transact(context.Background(), func(tx *eventstore.Tx) error {
		var err error
		version, err = app.Load(context.Background(), tx, stream, &m)
		return err
	}); err != nil {
		t.Fatalf("load %s: %v", stream, err)
	}
	return m, version
}

// TestSnapshotIsUsedAndNeverTrustedWhenStaleOrCorrupt: a long membership
// stream is folded from its snapshot; a snapshot of another schema, one
// that does not decode, or one whose state disagrees with its version is
// ignored, the stream folded from the start, and the snapshot replaced.
func TestSnapshotIsUsedAndNeverTrustedWhenStaleOrCorrupt(t *testing.T) {
	app, l := newApp(t)
	const cid, login = "OCB0000126", "marie.curie"
	stream := membershipHistory(t, app, cid, login, 100)
	want := replayed(t, app, stream)
	pool := app.Store.Pool()
	ctx := context.Background()

	m, version := loadMembership(t, app, stream)
	if last, _ := l.get(stream); last != 101 || version != 101 || !reflect.DeepEqual(m, want) {
		t.Fatalf("first load read %d events, version %d, state equal: %v; want the whole stream (101)", last, version, reflect.DeepEqual(m, want))
	}
	// That load wrote a snapshot: the next reads none.
	m, version = loadMembership(t, app, stream)
	if last, _ := l.get(stream); last != 0 || version != 101 || !reflect.DeepEqual(m, want) {
		t.Fatalf("load from the snapshot read %d events, version %d, state equal: %v", last, version, reflect.DeepEqual(m, want))
	}
	// Events after the snapshot are folded on top of it.
	appendEvents(t, app, stream, cid, membership.RolesChanged{ContractID: cid, Login: login, Before: roles(false), After: roles(true), At: time.Now().UTC()})
	want = replayed(t, app, stream)
	m, version = loadMembership(t, app, stream)
	if last, _ := l.get(stream); last != 1 || version != 102 || !reflect.DeepEqual(m, want) {
		t.Fatalf("load after one more event read %d events, version %d, state equal: %v", last, version, reflect.DeepEqual(m, want))
	}

	var good []byte
	if err := pool.QueryRow(ctx, `SELECT data FROM snapshots WHERE stream_id = $1 AND kind = $2`, stream, membership.SnapshotKind).Scan(&good); err != nil {
		t.Fatal(err)
	}
	// A snapshot of the state at version 50 saved as if it were at 101.
	early := membershipAt(t, app, stream, 50)
	for _, tc := range []struct {
		name   string
		update string
		args   []any
	}{
		{"garbage bytes", `UPDATE snapshots SET data = $3 WHERE stream_id = $1 AND kind = $2`, []any{[]byte("\x00\xffnot json")}},
		{"unknown fields", `UPDATE snapshots SET data = $3 WHERE stream_id = $1 AND kind = $2`, []any{[]byte(`{"member":true,"surprise":1}`)}},
		{"state of another version", `UPDATE snapshots SET data = $3 WHERE stream_id = $1 AND kind = $2`, []any{early}},
		{"empty object", `UPDATE snapshots SET data = $3 WHERE stream_id = $1 AND kind = $2`, []any{[]byte(`{}`)}},
		{"older schema", `UPDATE snapshots SET schema_version = $3, data = $4 WHERE stream_id = $1 AND kind = $2`, []any{membership.SnapshotSchema - 1, []byte(`{"member":false}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := pool.Exec(ctx, tc.update, append([]any{stream, membership.SnapshotKind}, tc.args...)...); err != nil {
				t.Fatal(err)
			}
			m, version := loadMembership(t, app, stream)
			if last, _ := l.get(stream); last != 102 || version != 102 || !reflect.DeepEqual(m, want) {
				t.Errorf("load read %d events, version %d, state equal: %v; want the whole stream folded (102)", last, version, reflect.DeepEqual(m, want))
			}
			var schema int
			var data []byte
			if err := pool.QueryRow(ctx, `SELECT schema_version, data FROM snapshots WHERE stream_id = $1 AND kind = $2`, stream, membership.SnapshotKind).Scan(&schema, &data); err != nil {
				t.Fatal(err)
			}
			var restored membership.Membership
			if schema != membership.SnapshotSchema || restored.UnmarshalSnapshot(data) != nil || !reflect.DeepEqual(restored, want) {
				t.Errorf("the untrusted snapshot was not replaced by a good one (schema %d)", schema)
			}
		})
	}
	if len(good) == 0 {
		t.Fatal("no snapshot was saved")
	}
}

// membershipAt is the snapshot of the membership after its first n events.
func membershipAt(t *testing.T, app *commands.App, stream string, n int) []byte {
	t.Helper()
	recs, err := app.Store.Load(context.Background(), stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	var m membership.Membership
	if _, err := app.Fold(recs[:n], &m); err != nil {
		t.Fatal(err)
	}
	data, err := m.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestRoleChangeNumberNLoadsABoundedNumberOfEvents: the users command
// changing a member's roles again and again reads a bounded number of
// events of the membership stream.
func TestRoleChangeNumberNLoadsABoundedNumberOfEvents(t *testing.T) {
	app, l := newApp(t)
	const cid, login = "OCB0000127", "marie.curie"
	createContract(t, app, cid)
	stream := membershipHistory(t, app, cid, login, 0)
	users := &commands.Users{App: app}
	for i := 0; i < 60; i++ {
		in := commands.RolesInput{Profiles: map[string]string{"users": map[bool]string{true: "manager", false: "none"}[i%2 == 0]}}
		if err := users.ChangeRoles(operator(), cid, login, membership.AllRoles, in, commands.Precondition{}); err != nil {
			t.Fatalf("change %d: %v", i, err)
		}
	}
	want := replayed(t, app, stream)
	if want.Version() != 61 {
		t.Fatalf("membership at version %d, want 61", want.Version())
	}
	if _, most := l.get(stream); most > commands.SnapshotEvery {
		t.Errorf("a role change read %d events of %s; want at most %d", most, stream, commands.SnapshotEvery)
	}
	m, _ := loadMembership(t, app, stream)
	if !reflect.DeepEqual(m, want) {
		t.Errorf("membership from its snapshot differs from the replayed one:\n%+v\n%+v", m, want)
	}
}

// dumpEvents returns every stored event row as text, in position order.
func dumpEvents(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT e::text FROM events e ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMigrationOfAnOldDatabaseKeepsEveryEventAndMakesOrdersCheap seeds a
// database of the shape before migration 0400 (contract order streams
// without index or snapshots), migrates it as serve does, and checks that
// every stored event is byte for byte what it was, that the old orders are
// found through the index without reading their contract's stream, and
// that numbering goes on without a gap.
func TestMigrationOfAnOldDatabaseKeepsEveryEventAndMakesOrdersCheap(t *testing.T) {
	ctx := context.Background()
	pool := testdb.New(t)
	// The shape before 0400 (later migrations rolled back first; Up
	// applies them all again).
	if err := migrations.DownTo(ctx, pool, 399); err != nil {
		t.Fatal(err)
	}
	app, l := newApp(t)
	app.Store = eventstore.New(pool, clock.Real{})
	const cid = "OCB0000128"
	createContract(t, app, cid)
	quote, err := catalog.Default().Quote("PS104", nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 60
	var refs []string
	for i := 1; i <= n; i++ {
		events, err := order.Place(order.PlaceOrder{ContractID: cid, ServiceCode: "PS104", PlacedBy: "paul.dupont"}, quote, i, order.ContractCode(cid, "SL_Prod"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, events[0].(order.OrderPlaced).Ref)
		appendEvents(t, app, order.Stream(cid), cid, events...)
		if i%3 == 0 {
			appendEvents(t, app, order.Stream(cid), cid, order.OrderCompleted{Ref: refs[i-2], ContractID: cid, CompletedAt: time.Now().UTC()})
		}
	}
	membershipHistory(t, app, cid, "marie.curie", 40)
	before := dumpEvents(t, pool)

	if err := migrations.Up(ctx, pool); err != nil {
		t.Fatal(err)
	}
	after := dumpEvents(t, pool)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("migration changed stored events: %d rows before, %d after", len(before), len(after))
	}
	var indexed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM order_events WHERE stream_id = $1`, order.Stream(cid)).Scan(&indexed); err != nil {
		t.Fatal(err)
	}
	if indexed != n+n/3 {
		t.Errorf("order_events holds %d events of the old stream, want %d", indexed, n+n/3)
	}
	// order_billing (migration 0410) is filled from the stored orders too:
	// the pre-invoice of this month bills the orders completed before the
	// migration.
	var billed, completed int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(completed_at) FROM order_billing WHERE stream_id = $1`, order.Stream(cid)).Scan(&billed, &completed); err != nil {
		t.Fatal(err)
	}
	if billed != n || completed != n/3 {
		t.Errorf("order_billing holds %d orders, %d completed, of the old stream; want %d, %d", billed, completed, n, n/3)
	}
	inv, err := (&commands.Billing{App: app}).Preview(operator(), cid, billing.PeriodOf(subscription.DateOf(time.Now())))
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Lines) != n/3 {
		t.Errorf("the pre-invoice after the migration has %d lines, want the %d orders completed before it", len(inv.Lines), n/3)
	}

	orders := &commands.Orders{App: app, Catalog: catalog.Default()}
	user := commands.WithActor(ctx, commands.Actor{Kind: commands.ActorUser, Login: "paul.dupont"})
	for i := n + 1; i <= n+3; i++ {
		ref, err := orders.Place(user, commands.PlaceOrderInput{ContractID: cid, ServiceCode: "PS104"})
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := order.ParseRef(ref); r.Seq != i {
			t.Fatalf("order placed after the migration got %q, want number %d", ref, i)
		}
	}
	if last, _ := l.get(order.Stream(cid)); last > 2 {
		t.Errorf("the third order after the migration read %d events of the old stream, want its snapshot and the 2 orders placed since", last)
	}
	if err := orders.Reject(operator(), refs[3], ""); err != nil {
		t.Fatalf("reject an old order: %v", err)
	}
	if last, _ := l.get(order.Stream(cid)); last != 1 {
		t.Errorf("rejecting an old order read %d events, want its 1", last)
	}
	if err := orders.Complete(operator(), refs[3]); err == nil {
		t.Errorf("completing an old rejected order succeeded")
	}
	if err := orders.Complete(operator(), refs[1]); err == nil {
		t.Errorf("completing an old order completed before the migration succeeded")
	}
	final := dumpEvents(t, pool)
	if !reflect.DeepEqual(final[:len(before)], before) {
		t.Error("commands after the migration changed events stored before it")
	}
}

// TestSnapshotsRestoreTheFoldedState: for every aggregate the command side
// snapshots, the state restored from a snapshot taken midway, with the
// remaining events folded on top, is the state folded from every event.
func TestSnapshotsRestoreTheFoldedState(t *testing.T) {
	reg := registry.All()
	t0 := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	const cid, login = "OCB0000129", "marie.curie"
	profile := identity.ProfileData{Email: "marie@example.com", Civility: "mrs", LastName: "Curie", FirstName: "Marie", Phone: "+33 1 00 00 00 01", Language: "fr"}
	quote, err := catalog.Default().Quote("PS104", nil)
	if err != nil {
		t.Fatal(err)
	}
	placed, err := order.Place(order.PlaceOrder{ContractID: cid, ServiceCode: "PS104", PlacedBy: login}, quote, 7, "SLPRO129", t0)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		fresh  func() commands.Snapshotted
		events []domain.Event
	}{
		{"identity", func() commands.Snapshotted { return &identity.Identity{} }, []domain.Event{
			identity.IdentityRegistered{Login: login, ProfileData: profile, RegisteredAt: t0},
			identity.PasswordResetRequested{Login: login, RequestedAt: t0, ExpiresAt: t0.Add(identity.ResetLinkValidity)},
			identity.PasswordSet{Login: login, At: t0.Add(time.Hour), Reason: identity.ReasonReset},
			identity.PasswordResetRequested{Login: login, RequestedAt: t0.Add(2 * time.Hour), ExpiresAt: t0.Add(26 * time.Hour)},
			identity.LoginReminderRequested{Login: login, Email: profile.Email, At: t0.Add(3 * time.Hour)},
			identity.PasswordResetRequested{Login: login, RequestedAt: t0.Add(30 * time.Hour), ExpiresAt: t0.Add(54 * time.Hour)},
			identity.PasswordResetRequested{Login: login, RequestedAt: t0.Add(31 * time.Hour), ExpiresAt: t0.Add(55 * time.Hour)},
			identity.EmailChangeRequested{Login: login, Email: "moved@example.org", OldEmail: profile.Email, RequestedAt: t0.Add(32 * time.Hour), ExpiresAt: t0.Add(56 * time.Hour)},
		}},
		{"console account", func() commands.Snapshotted { a := console.NewAccount(cid, login); return &a }, []domain.Event{
			console.VerificationCodeSent{ContractID: cid, Login: login, IssuedAt: t0, ExpiresAt: t0.Add(time.Minute)},
			console.ApiPasswordSet{ContractID: cid, Login: login, At: t0.Add(time.Second)},
			console.AccessKeyCreated{ContractID: cid, Login: login, AccessKeyID: "AK1", At: t0.Add(2 * time.Second)},
			console.AccessKeyCreated{ContractID: cid, Login: login, AccessKeyID: "AK2", At: t0.Add(3 * time.Second)},
			console.AccessKeyDeleted{ContractID: cid, Login: login, AccessKeyID: "AK1", At: t0.Add(4 * time.Second)},
			console.VerificationCodeSent{ContractID: cid, Login: login, IssuedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(time.Hour + time.Minute)},
		}},
		{"membership", func() commands.Snapshotted { return &membership.Membership{} }, []domain.Event{
			membership.UserAddedToContract{ContractID: cid, Login: login, Profiles: roles(false).Profiles, AddedBy: "operator", At: t0},
			membership.RolesChanged{ContractID: cid, Login: login, Before: roles(false), After: roles(true), At: t0.Add(time.Minute)},
			membership.ExternalAccountsSet{ContractID: cid, Login: login, Incidents: true, At: t0.Add(2 * time.Minute)},
			membership.UserRemovedFromContract{ContractID: cid, Login: login, Before: roles(true), At: t0.Add(3 * time.Minute)},
			membership.UserAddedToContract{ContractID: cid, Login: login, Profiles: roles(true).Profiles, AddedBy: "operator", At: t0.Add(4 * time.Minute)},
		}},
		{"order counter", func() commands.Snapshotted { return &order.Counter{} }, []domain.Event{
			placed[0],
			order.OrderCompleted{Ref: placed[0].(order.OrderPlaced).Ref, ContractID: cid, CompletedAt: t0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Events as a load gives them: encoded, stored, decoded.
			stored := make([]domain.Event, len(tc.events))
			for i, e := range tc.events {
				data, err := json.Marshal(e)
				if err != nil {
					t.Fatal(err)
				}
				if stored[i], err = reg.Decode(e.EventType(), reg.Version(e.EventType()), data); err != nil {
					t.Fatal(err)
				}
			}
			for cut := 0; cut <= len(stored); cut++ {
				want := tc.fresh()
				for _, e := range stored {
					want.Apply(e)
				}
				mid := tc.fresh()
				for _, e := range stored[:cut] {
					mid.Apply(e)
				}
				data, err := mid.MarshalSnapshot()
				if err != nil {
					t.Fatal(err)
				}
				got := tc.fresh()
				if err := got.UnmarshalSnapshot(data); err != nil {
					t.Fatalf("cut at %d: %v", cut, err)
				}
				for _, e := range stored[cut:] {
					got.Apply(e)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("cut at %d: restored and folded state differs:\n got %+v\nwant %+v", cut, got, want)
				}
			}
		})
	}
}

// The billing run and the pre-invoice of a period load the events of the
// orders that period may concern, not the contract's whole order book:
// three orders of this month cost what they cost after forty of a month
// long gone, and each period's invoice still holds its own orders.
func TestBillingLoadsThePeriodsOrdersNotTheWholeBook(t *testing.T) {
	app, l := newApp(t)
	now := time.Now().UTC()
	clk := clock.NewManual(now.AddDate(0, -3, 0))
	app.Clock = clk
	const cid = "OCB0000125"
	createContract(t, app, cid)
	orders := &commands.Orders{App: app, Catalog: catalog.Default()}
	bills := &commands.Billing{App: app}
	ctx := commands.WithActor(context.Background(), commands.Actor{Kind: commands.ActorUser, Login: "paul.dupont"})
	place := func(n int) {
		t.Helper()
		for range n {
			ref, err := orders.Place(ctx, commands.PlaceOrderInput{ContractID: cid, ServiceCode: "PS104"})
			if err != nil {
				t.Fatal(err)
			}
			if err := orders.Complete(operator(), ref); err != nil {
				t.Fatal(err)
			}
		}
	}
	place(40)
	old := billing.PeriodOf(subscription.DateOf(clk.Now()))
	clk.Set(now)
	place(3)
	current := billing.PeriodOf(subscription.DateOf(now))

	stream := order.Stream(cid)
	for _, c := range []struct {
		p     billing.Period
		lines int
	}{{current, 3}, {old, 40}} {
		l.reset()
		inv, err := bills.Preview(operator(), cid, c.p)
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Lines) != c.lines {
			t.Errorf("the pre-invoice of %s has %d lines, want %d", c.p, len(inv.Lines), c.lines)
		}
		if last, _ := l.get(stream); last != 2*c.lines {
			t.Errorf("the pre-invoice of %s read %d events of %s; want the %d of its orders", c.p, last, stream, 2*c.lines)
		}
	}
}
