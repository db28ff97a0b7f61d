package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"time"

	"selfcare/commands"
	"selfcare/domain/contract"
	"selfcare/domain/identity"
	"selfcare/internal/config"
	"selfcare/internal/secrets"
	"selfcare/internal/server"
)

// OrdersConfig says how to measure order placement.
type OrdersConfig struct {
	// Clients placing orders at once (default 8).
	Clients int
	// Duration of each measurement (default 5 s).
	Duration time.Duration
	// SharedContract makes every client order on one contract, the worst
	// case: all orders then go through one order stream. By default each
	// client orders on a contract of its own.
	SharedContract bool
}

// OrdersResult is what MeasureOrders measured.
type OrdersResult struct {
	Clients        int           `json:"clients"`
	SharedContract bool          `json:"shared_contract"`
	Orders         int           `json:"orders"`
	Errors         int           `json:"errors"`
	Elapsed        time.Duration `json:"elapsed_ns"`
	PerSecond      float64       `json:"orders_per_second"`
	// P50 and P99 are the latencies of one order, request to response.
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	// The baseline: the same number of clients, each doing single-row
	// INSERTs of an order-sized row (one transaction each) into a table
	// of its own, for the same duration: durable, as an order is (its
	// commit waits for the WAL to be flushed).
	Inserts          int     `json:"baseline_inserts"`
	InsertsPerSecond float64 `json:"baseline_inserts_per_second"`
	// The same into temporary tables, which write no WAL: what the
	// baseline was before it was made durable, for comparison only.
	TempInsertsPerSecond float64 `json:"baseline_temp_inserts_per_second"`
}

// String reports the result on one line.
func (r OrdersResult) String() string {
	shared := "one contract per client"
	if r.SharedContract {
		shared = "one shared contract"
	}
	return fmt.Sprintf("orders over HTTP: %d clients (%s): %.0f orders/s (%d orders, %d errors, p50 %v, p99 %v); raw INSERT baseline: %.0f rows/s",
		r.Clients, shared, r.PerSecond, r.Orders, r.Errors, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.InsertsPerSecond)
}

// MeasureOrders measures how many orders per second clients concurrent
// HTTP clients place through srv, a started server (its read models
// following), then a raw-INSERT baseline on srv's database. It creates its
// own contracts and users (through the command side, so that no admin
// token is needed) and serves srv over a loopback HTTP server of its own.
// Every order is a real one: it stays in the event store.
func MeasureOrders(ctx context.Context, srv *server.Server, cfg OrdersConfig) (OrdersResult, error) {
	if cfg.Clients <= 0 {
		cfg.Clients = 8
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 5 * time.Second
	}
	res := OrdersResult{Clients: cfg.Clients, SharedContract: cfg.SharedContract}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Clients}, Timeout: time.Minute}

	type seat struct{ contractID, token string }
	seats := make([]seat, cfg.Clients)
	for i := range seats {
		if cfg.SharedContract && i > 0 {
			seats[i] = seats[0]
			continue
		}
		cid, token, err := newCustomer(ctx, srv, client, hs.URL)
		if err != nil {
			return res, err
		}
		seats[i] = seat{cid, token}
	}

	body := []byte(`{"service_code":"AD135","parameters":{"region":"eu-west-0","flavor":"c2.large","duration_months":12,"upfront":false}}`)
	var mu sync.Mutex
	var latencies []time.Duration
	var firstErr error
	deadline := time.Now().Add(cfg.Duration)
	start := time.Now()
	var wg sync.WaitGroup
	for _, s := range seats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			errs := 0
			var lastErr error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				status, err := post(ctx, client, hs.URL+"/api/v1/contracts/"+s.contractID+"/orders", s.token, body)
				if err == nil && status != http.StatusCreated {
					err = fmt.Errorf("place an order: status %d", status)
				}
				if err != nil {
					errs++
					lastErr = err
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, mine...)
			res.Errors += errs
			if firstErr == nil {
				firstErr = lastErr
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Orders = len(latencies)
	res.PerSecond = float64(res.Orders) / res.Elapsed.Seconds()
	if len(latencies) > 0 {
		slices.Sort(latencies)
		res.P50 = latencies[len(latencies)/2]
		res.P99 = latencies[min(len(latencies)-1, len(latencies)*99/100)]
	}
	if res.Orders == 0 && firstErr != nil {
		return res, fmt.Errorf("bench: no order placed: %w", firstErr)
	}

	inserts, elapsed, err := insertBaseline(ctx, srv, cfg.Clients, cfg.Duration, true)
	if err != nil {
		return res, err
	}
	res.Inserts = inserts
	res.InsertsPerSecond = float64(inserts) / elapsed.Seconds()
	temp, elapsed, err := insertBaseline(ctx, srv, cfg.Clients, cfg.Duration, false)
	if err != nil {
		return res, err
	}
	res.TempInsertsPerSecond = float64(temp) / elapsed.Seconds()
	return res, ctx.Err()
}

// newCustomer creates a contract whose referent (a services manager) has a
// password, and signs them in over HTTP.
func newCustomer(ctx context.Context, srv *server.Server, client *http.Client, baseURL string) (string, string, error) {
	suffix := randomHex(6)
	login := "bench." + suffix
	ctx = commands.WithActor(ctx, commands.Actor{Kind: commands.ActorOperator, Login: "operator"})
	created, err := (&commands.Contracts{App: srv.App}).Create(ctx, contract.CreateInput{
		Name: "Bench " + suffix, Offer: "Flexible Engine",
		Company:        contract.Company{LegalName: "BENCH", SIRET: "50161528000036", ReferentName: "Bench", ReferentEmail: login + "@example.com"},
		InvoiceContact: contract.Contact{Phone: "+33 1 00 00 00 01", Email: "invoices@example.com"},
		SupportContact: contract.SupportContact{Phone: "+33 1 00 00 00 02", Email: "support@example.com", Hours: "24/7"},
		Referent: identity.RegistrationInput{Login: login, Email: login + "@example.com", PersonInput: identity.PersonInput{
			Civility: "mr", LastName: "Bench", FirstName: "Mark", Phone: "+33 1 23 45 67 89", Language: "en",
		}},
	})
	if err != nil {
		return "", "", fmt.Errorf("bench: create a contract: %w", err)
	}
	token, err := signIn(ctx, srv, client, baseURL, created.ReferentLogin)
	return created.ID, token, err
}

func post(ctx context.Context, client *http.Client, url, token string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// insertBaseline has clients connections each INSERT, one row per
// transaction, an order-sized row into a table of its own for d: a durable
// one, or a temporary one (no WAL) if not durable.
func insertBaseline(ctx context.Context, srv *server.Server, clients int, d time.Duration, durable bool) (int, time.Duration, error) {
	row := []byte(`{"ref":"BENCH1-2611-001","seq":1,"contract_id":"OCB0000001","service_code":"AD135",` +
		`"service_name":"Elastic Cloud Server flavor reservation","subscription_name":"Reservation c2.large 1 year without upfront",` +
		`"kind":"reservation","parameters":{"region":"eu-west-0","flavor":"c2.large","duration_months":"12","upfront":"false"},` +
		`"price":{"amount":"60.15","currency":"EUR"},"placed_by":"bench.user","placed_at":"2026-11-24T10:15:00Z"}`)
	var total int
	var mu sync.Mutex
	var errs []error
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := insertRows(ctx, srv, row, deadline, durable)
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return total, time.Since(start), errors.Join(errs...)
}

func insertRows(ctx context.Context, srv *server.Server, row []byte, deadline time.Time, durable bool) (int, error) {
	conn, err := srv.Pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("bench: baseline: %w", err)
	}
	defer conn.Release()
	table, create := "bench_orders_"+randomHex(4), `CREATE TABLE `
	if !durable {
		create = `CREATE TEMP TABLE `
	}
	if _, err := conn.Exec(ctx, create+table+` (id bigserial PRIMARY KEY, stream text NOT NULL, data jsonb NOT NULL, at timestamptz NOT NULL)`); err != nil {
		return 0, fmt.Errorf("bench: baseline: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS `+table) }()
	n := 0
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := conn.Exec(ctx, `INSERT INTO `+table+` (stream, data, at) VALUES ($1, $2, now())`, "orders-OCB0000001", row); err != nil {
			return n, fmt.Errorf("bench: baseline: %w", err)
		}
		n++
	}
	return n, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newKeys returns server keys from a random secret of the bench's own.
func newKeys() (*secrets.Keys, error) { return secrets.FromSecret("bench-" + randomHex(16)) }

// newServer builds (without starting it) a server on env's database with
// new keys and cfg, in a data directory of its own that remove deletes
// (after the server stopped). Its mail has a sender address and, with no
// SMTP server, lands as files in that directory: the order confirmations
// of a run are sent, not retried with a warning each until the run ends.
func newServer(env *Env, cfg config.Config) (srv *server.Server, remove func(), err error) {
	keys, err := newKeys()
	if err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp("", "selfcare-bench-")
	if err != nil {
		return nil, nil, err
	}
	remove = func() { _ = os.RemoveAll(dir) }
	cfg.DataDir = dir
	// Its emails (order confirmations) go to a local SMTP server that
	// accepts them all: without one they would fail, be retried and log
	// warnings through the measurements.
	relay, err := sharedSink()
	if err != nil {
		remove()
		return nil, nil, err
	}
	cfg.SMTPAddr, cfg.MailFrom = relay.Addr, "bench@localhost"
	srv, err = server.New(server.Options{Pool: env.Pool, Logger: quiet(env.Logger), Keys: keys, Config: cfg})
	if err != nil {
		remove()
		return nil, nil, err
	}
	return srv, remove, nil
}

// startServer is newServer, started; stop stops it, then removes its data
// directory.
func startServer(ctx context.Context, env *Env, cfg config.Config) (srv *server.Server, stop func(), err error) {
	srv, remove, err := newServer(env, cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Start(ctx); err != nil {
		remove()
		return nil, nil, err
	}
	return srv, func() { srv.Stop(); remove() }, nil
}

// OrdersOverHTTP is MeasureOrders as a `selfcare bench` measurement: a
// whole server on the bench database, clients HTTP clients each ordering on
// a contract of their own, then all of them on one shared contract, beside
// the raw-INSERT baseline.
func OrdersOverHTTP(clients int) Measurement {
	name := fmt.Sprintf("orders over HTTP, %d clients", clients)
	if clients == 1 {
		name = "orders over HTTP, 1 client"
	}
	return Measurement{Name: name, Run: func(ctx context.Context, env *Env) ([]Result, error) {
		srv, stop, err := startServer(ctx, env, config.Config{})
		if err != nil {
			return nil, err
		}
		defer stop()
		var results []Result
		shareds := []bool{false, true}
		if clients == 1 {
			shareds = shareds[:1] // one client: nothing to share
		}
		for _, shared := range shareds {
			res, err := MeasureOrders(ctx, srv, OrdersConfig{Clients: clients, Duration: env.Duration, SharedContract: shared})
			if err != nil {
				return results, err
			}
			label := name
			if shared {
				label += ", one contract"
			}
			r := Result{
				Name: label, Unit: "orders/s", Value: res.PerSecond, Baseline: res.InsertsPerSecond,
				Note: fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, %d errors; baseline durable (a TEMP table, no WAL: %.0f rows/s)",
					millis(res.P50), millis(res.P99), res.Errors, res.TempInsertsPerSecond),
			}
			if clients == 8 && !shared {
				r.Target = MinRatio(0.1) // issue 9
			}
			results = append(results, r)
			if clients == 1 {
				results = append(results, Result{Name: name + ", p50", Unit: "ms", Value: millis(res.P50), Target: Below(4, "ms")})
			}
		}
		return results, nil
	}}
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
