package handlers

import (
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"selfcare/commands"
	"selfcare/domain"
	"selfcare/domain/order"
	"selfcare/projections"
	"selfcare/projections/orders"
)

// OrdersAPI serves orders: placing them (services managers), reading them
// (orders visitors, and "my orders"), and their completion or rejection by
// the back office.
type OrdersAPI struct {
	Orders  *commands.Orders
	Queries orders.Queries
}

// Routes registers the order endpoints.
func (f OrdersAPI) Routes(r *Routes) {
	r.Handle("POST /api/v1/contracts/{cid}/orders", f.place)
	r.HandleRead("GET /api/v1/contracts/{cid}/orders", f.list, pageRead(orders.ListRead))
	r.HandleRead("GET /api/v1/contracts/{cid}/orders/{ref}", f.get, func(r *http.Request) (projections.Read, bool) {
		return orders.GetRead(mux.Vars(r)["cid"], mux.Vars(r)["ref"]), true
	})
	r.Handle("GET /api/v1/me/orders", f.mine)
	r.Handle("POST /api/v1/admin/orders/{ref}/complete", f.complete)
	r.Handle("POST /api/v1/admin/orders/{ref}/reject", f.reject)
}

func (f OrdersAPI) place(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ServiceCode string         `json:"service_code"`
		Parameters  map[string]any `json:"parameters"`
		Contact     *order.Contact `json:"contact"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	cid := memberFrom(r.Context()).contractID
	placed, err := f.Orders.PlaceOrder(r.Context(), commands.PlaceOrderInput{
		ContractID: cid, ServiceCode: in.ServiceCode, Parameters: in.Parameters, Contact: in.Contact,
	})
	if err != nil {
		fail(w, r, err)
		return
	}
	// The answer is the order as the read model will show it, built from
	// the event: the write does not wait for the read model (the client's
	// next read does, by X-Selfcare-Position).
	o, err := orders.Placed(placed)
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/contracts/"+cid+"/orders/"+placed.Ref)
	writeJSON(w, http.StatusCreated, o)
}

func (f OrdersAPI) list(w http.ResponseWriter, r *http.Request) {
	items, next, err := f.Queries.List(r.Context(), memberFrom(r.Context()).contractID, r.URL.Query())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeList(w, items, next)
}

func (f OrdersAPI) get(w http.ResponseWriter, r *http.Request) {
	o, err := f.Queries.Get(r.Context(), memberFrom(r.Context()).contractID, mux.Vars(r)["ref"])
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (f OrdersAPI) mine(w http.ResponseWriter, r *http.Request) {
	items, next, err := f.Queries.Mine(r.Context(), principalFrom(r.Context()).login, r.URL.Query())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeList(w, items, next)
}

func (f OrdersAPI) complete(w http.ResponseWriter, r *http.Request) {
	ref := mux.Vars(r)["ref"]
	if err := f.Orders.Complete(r.Context(), ref); err != nil {
		fail(w, r, err)
		return
	}
	f.writeOrder(w, r, ref)
}

func (f OrdersAPI) reject(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decode(w, r, &in); err != nil && !isEmptyBody(err) {
			fail(w, r, err)
			return
		}
	}
	ref := mux.Vars(r)["ref"]
	if err := f.Orders.Reject(r.Context(), ref, in.Reason); err != nil {
		fail(w, r, err)
		return
	}
	f.writeOrder(w, r, ref)
}

func (f OrdersAPI) writeOrder(w http.ResponseWriter, r *http.Request, ref string) {
	readOwnWrites(r, orders.Name)
	o, err := f.Queries.ByRef(r.Context(), ref)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// isEmptyBody reports whether decode failed only because there was no
// body, for endpoints whose body is optional.
func isEmptyBody(err error) bool {
	var ve *domain.ValidationError
	return errors.As(err, &ve) && len(ve.Errors) == 1 && ve.Errors[0].Field == "body" && ve.Errors[0].Code == "required"
}
