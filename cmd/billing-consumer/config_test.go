package main

import (
	"strings"
	"testing"
	"time"
)

// The NATS mode needs no feed token, names its durable after the
// consumer, and refuses subjects outside the stream and bad names.
func TestParseConfigNATS(t *testing.T) {
	t.Setenv("SELFCARE_FEED_TOKEN", "")
	t.Setenv("CONSUMER_DATABASE_URL", "postgres://localhost/billing")
	c, err := parseConfig([]string{"-nats", "nats://127.0.0.1:4222", "-name", "eu west"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Durable != "billing-eu_west" || c.Subject != "selfcare.events.>" || c.AckWait != 30*time.Second {
		t.Fatalf("%+v", c)
	}
	for _, bad := range [][]string{
		{"-nats", "nats://x", "-subject", "orders.>"},
		{"-nats", "nats://x", "-durable", "a.b"},
		{"-nats", "nats://x", "-ack-wait", "10ms"},
		{}, // neither a feed token nor NATS
	} {
		if _, err := parseConfig(bad); err == nil {
			t.Errorf("%v: accepted", bad)
		} else if !strings.Contains(err.Error(), "-") && !strings.Contains(err.Error(), "token") {
			t.Errorf("%v: unclear error %v", bad, err)
		}
	}
}
