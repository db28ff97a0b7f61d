package registry

import (
	"selfcare/domain/billing"
	"selfcare/domain/console"
	"selfcare/domain/contract"
	"selfcare/domain/identity"
	"selfcare/domain/membership"
	"selfcare/domain/operator"
	"selfcare/domain/order"
	"selfcare/domain/subscription"
)

// All is the registry of every event type of selfcare.
func All() *Registry {
	r, err := New(
		identity.EventTypes,
		contract.EventTypes,
		membership.EventTypes,
		console.EventTypes,
		order.EventTypes,
		subscription.EventTypes,
		billing.EventTypes,
		operator.EventTypes,
	)
	if err != nil {
		panic(err) // a duplicate name is a programming error, caught by tests
	}
	return r
}
