package bench

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"selfcare/internal/testdb"
	"selfcare/internal/testkit"
)

func TestMeasureOrdersPlacesRealOrdersAndMeasuresTheBaseline(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	for _, shared := range []bool{false, true} {
		before := env.CountEvents("OrderPlaced")
		res, err := MeasureOrders(context.Background(), env.Server, OrdersConfig{Clients: 3, Duration: 300 * time.Millisecond, SharedContract: shared})
		if err != nil {
			t.Fatal(err)
		}
		if res.Orders == 0 || res.Errors != 0 || res.PerSecond <= 0 || res.Inserts == 0 || res.TempInsertsPerSecond <= 0 || res.P99 < res.P50 {
			t.Fatalf("shared %t: %+v", shared, res)
		}
		if placed := env.CountEvents("OrderPlaced") - before; placed != res.Orders {
			t.Errorf("shared %t: %d orders measured, %d placed", shared, res.Orders, placed)
		}
		t.Log(res)
	}
}

func TestOrdersOverHTTPRunsAsABenchMeasurement(t *testing.T) {
	t.Parallel()
	env := NewEnv(testdb.New(t), 200*time.Millisecond, slog.New(slog.DiscardHandler))
	results, err := Run(context.Background(), env, []Measurement{OrdersOverHTTP(2)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || results[0].Value <= 0 || results[0].Baseline <= 0 || results[1].Value <= 0 {
		t.Fatalf("results = %+v", results)
	}
}
