package natsfwd

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector reports the forwarder when Prometheus scrapes.
type collector struct {
	f         *Forwarder
	published prometheus.Counter
	position  *prometheus.Desc
	lag       *prometheus.Desc
	leading   *prometheus.Desc
}

// Register adds the forwarder's metrics to reg: its checkpoint, its lag,
// whether this process forwards, and the events it published.
func (f *Forwarder) Register(reg prometheus.Registerer) {
	c := &collector{
		f: f,
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "selfcare_nats_forwarder_published_total",
			Help: "Events this process published to NATS JetStream (republished duplicates included).",
		}),
		position: prometheus.NewDesc("selfcare_nats_forwarder_position", "Position of the last event forwarded to NATS JetStream (shared checkpoint).", nil, nil),
		lag:      prometheus.NewDesc("selfcare_nats_forwarder_lag_seconds", "Age of the oldest event not forwarded to NATS JetStream yet (0 when caught up).", nil, nil),
		leading:  prometheus.NewDesc("selfcare_nats_forwarder_active", "1 in the process that forwards to NATS JetStream (it holds the lock).", nil, nil),
	}
	f.published = func(n int) { c.published.Add(float64(n)) }
	reg.MustRegister(c)
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	c.published.Describe(ch)
	ch <- c.position
	ch <- c.lag
	ch <- c.leading
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.published.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := c.f.Status(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.position, err)
		return
	}
	active := 0.0
	if s.Forwarding {
		active = 1
	}
	ch <- prometheus.MustNewConstMetric(c.position, prometheus.GaugeValue, float64(s.Position))
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, s.LagSeconds)
	ch <- prometheus.MustNewConstMetric(c.leading, prometheus.GaugeValue, active)
}
