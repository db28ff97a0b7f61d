package handlers

import (
	"net/http"

	"github.com/gorilla/mux"

	"selfcare/domain/subscription"
	"selfcare/internal/clock"
	"selfcare/projections/subscriptions"
)

// SubscriptionsAPI serves subscriptions, with their status on any day
// (?as_of=, today by the server's clock by default).
type SubscriptionsAPI struct {
	Queries subscriptions.Queries
	Clock   clock.Clock
}

// Routes registers the subscription endpoints.
func (f SubscriptionsAPI) Routes(r *Routes) {
	r.Handle("GET /api/v1/contracts/{cid}/subscriptions", f.list)
	r.Handle("GET /api/v1/contracts/{cid}/subscriptions/{ref}", f.get)
	r.Handle("GET /api/v1/me/subscriptions", f.mine)
}

func (f SubscriptionsAPI) today() subscription.Date { return subscription.DateOf(f.Clock.Now()) }

func (f SubscriptionsAPI) list(w http.ResponseWriter, r *http.Request) {
	items, next, err := f.Queries.List(r.Context(), memberFrom(r.Context()).contractID, f.today(), r.URL.Query())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeList(w, withOrderLinks(items), next)
}

func (f SubscriptionsAPI) get(w http.ResponseWriter, r *http.Request) {
	s, err := f.Queries.Get(r.Context(), memberFrom(r.Context()).contractID, mux.Vars(r)["ref"], f.today(), r.URL.Query())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, withOrderLinks([]subscriptions.Subscription{s})[0])
}

func (f SubscriptionsAPI) mine(w http.ResponseWriter, r *http.Request) {
	items, next, err := f.Queries.Mine(r.Context(), principalFrom(r.Context()).login, f.today(), r.URL.Query())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeList(w, withOrderLinks(items), next)
}

// subscriptionOut is a subscription with the link to its order.
type subscriptionOut struct {
	subscriptions.Subscription
	OrderURL string `json:"order_url"`
}

func withOrderLinks(list []subscriptions.Subscription) []subscriptionOut {
	out := make([]subscriptionOut, len(list))
	for i, s := range list {
		out[i] = subscriptionOut{Subscription: s, OrderURL: "/api/v1/contracts/" + s.ContractID + "/orders/" + s.OrderRef}
	}
	return out
}
