package bench

import (
	"context"
	"testing"
	"time"

	"selfcare/internal/testkit"
)

func TestMeasureOrdersPlacesRealOrdersAndMeasuresTheBaseline(t *testing.T) {
	env := testkit.New(t)
	for _, shared := range []bool{false, true} {
		before := env.CountEvents("OrderPlaced")
		res, err := MeasureOrders(context.Background(), env.Server, OrdersConfig{Clients: 3, Duration: 300 * time.Millisecond, SharedContract: shared})
		if err != nil {
			t.Fatal(err)
		}
		if res.Orders == 0 || res.Errors != 0 || res.PerSecond <= 0 || res.Inserts == 0 || res.P99 < res.P50 {
			t.Fatalf("shared %t: %+v", shared, res)
		}
		if placed := env.CountEvents("OrderPlaced") - before; placed != res.Orders {
			t.Errorf("shared %t: %d orders measured, %d placed", shared, res.Orders, placed)
		}
		t.Log(res)
	}
}
