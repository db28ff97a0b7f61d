package audit

import "testing"

func BenchmarkLink(b *testing.B) {
	ev := sampleEvent()
	ev.Data = []byte(`{"note": "quarterly review of console access for the customer team", "login": "jdoe@example.com", "roles": ["admin", "billing", "support"], "contract": "C-000123", "previous_roles": ["billing"]}`)
	ev.Metadata = []byte(`{"actor": "referent@example.com", "contract": "C-000123", "source_ip": "203.0.113.7", "actor_kind": "user", "request_id": "req-01HZX4K7Q2", "correlation_id": "5b0e6a8e-4cf1-4f8a-9a7e-2f6a1c9d3b10"}`)
	s := newSealer([]byte("k"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.link(genesis[:], ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReferenceLink(b *testing.B) {
	ev := sampleEvent()
	ev.Data = []byte(`{"note": "quarterly review of console access for the customer team", "login": "jdoe@example.com", "roles": ["admin", "billing", "support"], "contract": "C-000123", "previous_roles": ["billing"]}`)
	ev.Metadata = []byte(`{"actor": "referent@example.com", "contract": "C-000123", "source_ip": "203.0.113.7", "actor_kind": "user", "request_id": "req-01HZX4K7Q2", "correlation_id": "5b0e6a8e-4cf1-4f8a-9a7e-2f6a1c9d3b10"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := referenceCanonicalJSON(ev.Data); err != nil {
			b.Fatal(err)
		}
		if _, err := referenceCanonicalJSON(ev.Metadata); err != nil {
			b.Fatal(err)
		}
	}
}
