package order

import "selfcare/domain"

// Book is every order of one contract, folded from the contract's order
// stream: the billing run and the back office read it to find an order's
// state or the orders completed in a period. The zero Book is empty.
type Book struct {
	counter Counter
	orders  map[string]*Order
	refs    []string // in placement order
}

// Apply folds one event of the contract's order stream.
func (b *Book) Apply(e domain.Event) {
	b.counter.Apply(e)
	var ref string
	switch e := e.(type) {
	case OrderPlaced:
		ref = e.Ref
		if b.orders == nil {
			b.orders = map[string]*Order{}
		}
		if _, seen := b.orders[ref]; !seen {
			o := For(ref)
			b.orders[ref] = &o
			b.refs = append(b.refs, ref)
		}
	case OrderCompleted:
		ref = e.Ref
	case OrderRejected:
		ref = e.Ref
	default:
		return
	}
	if o, ok := b.orders[ref]; ok {
		o.Apply(e)
	}
}

// Next returns the number of the contract's next order.
func (b Book) Next() int { return b.counter.Next() }

// Get returns the order ref; ok is false if it was never placed.
func (b Book) Get(ref string) (Order, bool) {
	o, ok := b.orders[ref]
	if !ok {
		return For(ref), false
	}
	return *o, true
}

// Orders returns the contract's orders, in placement order.
func (b Book) Orders() []Order {
	out := make([]Order, len(b.refs))
	for i, ref := range b.refs {
		out[i] = *b.orders[ref]
	}
	return out
}
