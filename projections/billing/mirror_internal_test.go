package billing

import (
	"reflect"
	"slices"
	"testing"

	"selfcare/domain/billing"
)

// TestMirrorTypesFollowTheDomain holds the types the read model decodes
// stored invoices and usage reports into to the domain's events: the same
// JSON fields with the same Go types, the lines aside (kept as stored).
func TestMirrorTypesFollowTheDomain(t *testing.T) {
	for _, c := range []struct{ mirror, domain any }{
		{usageReported{}, billing.UsageReported{}},
		{invoiceIssued{}, billing.InvoiceIssued{}},
	} {
		mirror, dom := fields(reflect.TypeOf(c.mirror)), fields(reflect.TypeOf(c.domain))
		if !slices.Equal(mirror, dom) {
			t.Errorf("%T has fields %v, %T %v", c.mirror, mirror, c.domain, dom)
		}
	}
}

// fields lists a struct's JSON names and Go types, lines as "lines".
func fields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		name := f.Tag.Get("json")
		if name == "lines" {
			out = append(out, name)
			continue
		}
		out = append(out, name+" "+f.Type.String())
	}
	return out
}
