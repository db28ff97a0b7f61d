package order

import (
	"errors"
	"testing"

	"selfcare/domain"
)

func TestABookKeepsEveryOrderOfTheContractStream(t *testing.T) {
	first, second, third := placed(t, 1), placed(t, 2), placed(t, 3)
	stream := []domain.Event{
		first, second,
		OrderCompleted{Ref: first.Ref, ContractID: first.ContractID, CompletedAt: completedAt},
		third,
		OrderRejected{Ref: second.Ref, ContractID: second.ContractID, RejectedAt: completedAt, Reason: "no stock"},
		first, // a redelivered placement changes nothing
	}
	var b Book
	if b.Next() != 1 || len(b.Orders()) != 0 {
		t.Fatalf("an empty book: next %d, %d orders", b.Next(), len(b.Orders()))
	}
	for _, e := range stream {
		b.Apply(e)
	}
	if b.Next() != 4 {
		t.Errorf("Next() = %d, want 4", b.Next())
	}
	want := map[string]Status{first.Ref: StatusCompleted, second.Ref: StatusRejected, third.Ref: StatusInProgress}
	orders := b.Orders()
	if len(orders) != 3 || orders[0].Ref() != first.Ref || orders[1].Ref() != second.Ref || orders[2].Ref() != third.Ref {
		t.Fatalf("Orders() = %v, want the three orders in placement order", orders)
	}
	for ref, status := range want {
		o, ok := b.Get(ref)
		if !ok || o.Status() != status {
			t.Errorf("Get(%s) = %q, %t; want %q", ref, o.Status(), ok, status)
		}
	}
	if o, ok := b.Get("SLPRO124-2611-099"); ok || o.Exists() {
		t.Errorf("an order never placed is found: %+v", o)
	}
}

func TestCheckContactReportsWhatPlaceWould(t *testing.T) {
	if err := CheckContact(nil); err != nil {
		t.Errorf("no contact: %v", err)
	}
	if err := CheckContact(&Contact{Name: "Paul Dupont", Phone: "+33 1 23 45 67 89"}); err != nil {
		t.Errorf("a valid contact: %v", err)
	}
	err := CheckContact(&Contact{Name: " ", Email: "nope"})
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 2 || ve.Errors[0].Field != "contact.name" || ve.Errors[1].Field != "contact.email" {
		t.Errorf("a bad contact: %v", err)
	}
}
