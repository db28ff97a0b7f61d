package orders

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"selfcare/domain/money"
)

// AppendJSON appends o as encoding/json encodes it, byte for byte (a test
// holds it to that), but field by field instead of by reflection: the
// orders pages encoded their rows at about the cost of their query.
func (o Order) AppendJSON(b []byte) []byte {
	return o.State.appendJSON(o.appendPlaced(b))
}

// appendPlaced appends the part of o's JSON that its placing fixed for
// good, from the opening brace to its contact: the read model stores it
// rendered (placed_json), and a read appends the order's State to it.
func (o Order) appendPlaced(b []byte) []byte {
	b = append(b, `{"ref":`...)
	b = appendString(b, o.Ref)
	b = append(b, `,"contract_id":`...)
	b = appendString(b, o.ContractID)
	b = append(b, `,"placed_at":`...)
	b = appendTime(b, o.PlacedAt)
	b = append(b, `,"name":`...)
	b = appendString(b, o.Name)
	if len(o.Names) > 0 {
		b = append(b, `,"names":`...)
		b = appendMap(b, o.Names)
	}
	b = append(b, `,"service_code":`...)
	b = appendString(b, o.ServiceCode)
	b = append(b, `,"service_name":`...)
	b = appendString(b, o.ServiceName)
	b = append(b, `,"kind":`...)
	b = appendString(b, o.Kind)
	b = append(b, `,"price":`...)
	b = appendAmount(b, o.Price)
	if o.MonthlyPrice != nil {
		b = append(b, `,"monthly_price":`...)
		b = appendAmount(b, *o.MonthlyPrice)
	}
	if o.InitialPayment != nil {
		b = append(b, `,"initial_payment":`...)
		b = appendAmount(b, *o.InitialPayment)
	}
	if o.DurationMonths != 0 {
		b = append(b, `,"duration_months":`...)
		b = strconv.AppendInt(b, int64(o.DurationMonths), 10)
	}
	b = append(b, `,"placed_by":`...)
	b = appendString(b, o.PlacedBy)
	b = append(b, `,"parameters":`...)
	b = appendMap(b, o.Parameters)
	if c := o.Contact; c != nil {
		b = append(b, `,"contact":{"name":`...)
		b = appendString(b, c.Name)
		if c.Email != "" {
			b = append(b, `,"email":`...)
			b = appendString(b, c.Email)
		}
		if c.Phone != "" {
			b = append(b, `,"phone":`...)
			b = appendString(b, c.Phone)
		}
		b = append(b, '}')
	}
	return b
}

// appendJSON appends s's fields as encoding/json encodes them inside an
// Order, and closes the order's object.
func (s State) appendJSON(b []byte) []byte {
	b = append(b, `,"status":`...)
	b = appendString(b, s.Status)
	if s.CompletedAt != nil {
		b = append(b, `,"completed_at":`...)
		b = appendTime(b, *s.CompletedAt)
	}
	if s.RejectedAt != nil {
		b = append(b, `,"rejected_at":`...)
		b = appendTime(b, *s.RejectedAt)
	}
	for _, f := range [...]struct{ name, value string }{
		{`,"reject_reason":`, s.RejectReason}, {`,"subscription_ref":`, s.SubscriptionRef},
		{`,"contract_name":`, s.ContractName}, {`,"contract_offer":`, s.ContractOffer},
	} {
		if f.value != "" {
			b = append(b, f.name...)
			b = appendString(b, f.value)
		}
	}
	return append(b, '}')
}

// appendString appends s quoted as encoding/json quotes it: as it is when
// it holds nothing to escape (printable ASCII but for the quote, the
// backslash and the HTML characters <, >, &), else by encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTime appends t as time.Time's MarshalJSON does.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendAmount appends a as money.Amount's MarshalJSON does.
func appendAmount(b []byte, a money.Amount) []byte {
	b = append(b, `{"amount":`...)
	b = appendString(b, a.String())
	b = append(b, `,"currency":`...)
	b = appendString(b, money.Currency)
	return append(b, '}')
}

// appendMap appends m as encoding/json does: null when nil, its keys in
// order.
func appendMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendString(b, m[k])
	}
	return append(b, '}')
}
