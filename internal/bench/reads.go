package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/internal/config"
)

// ListVersusBare measures a read: the orders page of a contract (20 rows)
// served by selfcare to clients concurrent clients (session, rights, query,
// JSON), beside a bare net/http handler doing only the same query with
// pgx on the same database and encoding the same rows.
func ListVersusBare(clients int) Measurement {
	name := fmt.Sprintf("orders page (20 rows), %d clients", clients)
	return Measurement{Name: name, Run: func(ctx context.Context, env *Env) ([]Result, error) {
		srv, stop, err := startServer(ctx, env, config.Config{})
		if err != nil {
			return nil, err
		}
		defer stop()
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: time.Minute}
		cid, token, err := newCustomer(ctx, srv, client, hs.URL)
		if err != nil {
			return nil, err
		}
		body := []byte(`{"service_code":"AD135","parameters":{"region":"eu-west-0","flavor":"c2.large","duration_months":12,"upfront":false}}`)
		for range 25 {
			status, err := post(ctx, client, hs.URL+"/api/v1/contracts/"+cid+"/orders", token, body)
			if err != nil || status != http.StatusCreated {
				return nil, fmt.Errorf("bench: place an order: status %d: %v", status, err)
			}
		}
		head, err := srv.Store.Head(ctx)
		if err != nil {
			return nil, err
		}
		if err := srv.Runner.WaitFor(ctx, head); err != nil {
			return nil, err
		}

		page := hs.URL + "/api/v1/contracts/" + cid + "/orders?limit=20"
		bareSrv := httptest.NewServer(bareOrders(env.Pool))
		defer bareSrv.Close()
		barePage := bareSrv.URL + "/orders?contract=" + cid
		// Both warm (statements prepared, connections open), then in turns
		// of a fifth of the duration each: the machine's speed drifts, and
		// each side gets the same share of it.
		var selfcare, bare hammered
		for _, warm := range []bool{true, false} {
			turns, d := listTurns, env.Duration/listTurns
			if warm {
				turns, d = 1, 200*time.Millisecond
			}
			selfcare, bare = hammered{}, hammered{}
			for range turns {
				if err := selfcare.add(hammer(ctx, client, page, token, clients, d)); err != nil {
					return nil, err
				}
				if err := bare.add(hammer(ctx, client, barePage, "", clients, d)); err != nil {
					return nil, err
				}
			}
		}
		return []Result{{
			Name: name, Unit: "req/s", Value: selfcare.perSecond(), Baseline: bare.perSecond(), Target: MinRatio(0.8),
			Note: fmt.Sprintf("p50 %.2f ms (bare pgx handler %.2f ms), in %d turns each", millis(selfcare.p50()), millis(bare.p50()), listTurns),
		}}, nil
	}}
}

// listTurns is how many turns each side of ListVersusBare gets.
const listTurns = 5

// hammered is what hammering a URL measured, over one or more turns.
type hammered struct {
	latencies []time.Duration
	elapsed   time.Duration
}

// add adds a turn's measurement.
func (h *hammered) add(turn hammered, err error) error {
	if err != nil {
		return err
	}
	h.latencies = append(h.latencies, turn.latencies...)
	h.elapsed += turn.elapsed
	return nil
}

func (h hammered) perSecond() float64 { return float64(len(h.latencies)) / h.elapsed.Seconds() }

func (h hammered) p50() time.Duration {
	if len(h.latencies) == 0 {
		return 0
	}
	l := slices.Clone(h.latencies)
	slices.Sort(l)
	return l[len(l)/2]
}

// hammer has clients clients GET url for d, and says how fast it answered.
func hammer(ctx context.Context, client *http.Client, url, token string, clients int, d time.Duration) (hammered, error) {
	var mu sync.Mutex
	var latencies []time.Duration
	var firstErr error
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var err error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t := time.Now()
				if err = get(ctx, client, url, token); err != nil {
					break
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			defer mu.Unlock()
			latencies = append(latencies, mine...)
			if firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return hammered{}, firstErr
	}
	return hammered{latencies: latencies, elapsed: time.Since(start)}, nil
}

func get(ctx context.Context, client *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"ref"`) {
		return fmt.Errorf("bench: GET %s: status %d: %.200s", url, resp.StatusCode, b)
	}
	return nil
}

// bareOrders serves the first 20 orders of ?contract= with nothing but
// pgx and net/http: the floor a list endpoint is measured against.
func bareOrders(pool *pgxpool.Pool) http.Handler {
	type row struct {
		Ref         string            `json:"ref"`
		ContractID  string            `json:"contract_id"`
		PlacedAt    time.Time         `json:"placed_at"`
		Name        string            `json:"name"`
		ServiceCode string            `json:"service_code"`
		ServiceName string            `json:"service_name"`
		Kind        string            `json:"kind"`
		Price       string            `json:"price"`
		Status      string            `json:"status"`
		PlacedBy    string            `json:"placed_by"`
		Parameters  map[string]string `json:"parameters"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rows, err := pool.Query(r.Context(), `
SELECT ref, contract_id, placed_at, name, service_code, service_name, kind, price::text, status, placed_by, parameters
FROM rm_orders.orders WHERE contract_id = $1 ORDER BY placed_at DESC, ref DESC LIMIT 20`, r.URL.Query().Get("contract"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var out []row
		for rows.Next() {
			var o row
			if err := rows.Scan(&o.Ref, &o.ContractID, &o.PlacedAt, &o.Name, &o.ServiceCode, &o.ServiceName, &o.Kind, &o.Price, &o.Status, &o.PlacedBy, &o.Parameters); err != nil {
				rows.Close()
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			out = append(out, o)
		}
		if err := rows.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": out})
	})
}
