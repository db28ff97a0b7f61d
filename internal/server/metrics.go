package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"selfcare/projections"
)

// commandMetrics records every command's outcome and durations.
func commandMetrics(reg prometheus.Registerer) func(outcome string, decide, readYourWrites time.Duration) {
	buckets := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	decided := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "selfcare_command_duration_seconds",
		Help:    "Time to load, decide and append a command (its transaction, retries included), by outcome.",
		Buckets: buckets,
	}, []string{"outcome"})
	waited := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "selfcare_command_read_your_writes_seconds",
		Help:    "Time a successful command then waited for the read models to show its events.",
		Buckets: buckets,
	})
	reg.MustRegister(decided, waited)
	return func(outcome string, decide, readYourWrites time.Duration) {
		decided.WithLabelValues(outcome).Observe(decide.Seconds())
		if outcome == "ok" {
			waited.Observe(readYourWrites.Seconds())
		}
	}
}

// projectionCollector reports each read model's checkpoint, lag and health
// when Prometheus scrapes.
type projectionCollector struct {
	runner   *projections.Runner
	lag      *prometheus.Desc
	position *prometheus.Desc
	failing  *prometheus.Desc
}

func newProjectionCollector(runner *projections.Runner) *projectionCollector {
	labels := []string{"projector"}
	return &projectionCollector{
		runner:   runner,
		lag:      prometheus.NewDesc("selfcare_projection_lag_seconds", "Age of the oldest event a read model has not applied yet (0 when caught up).", labels, nil),
		position: prometheus.NewDesc("selfcare_projection_checkpoint", "Position of the last event a read model accounts for.", labels, nil),
		failing:  prometheus.NewDesc("selfcare_projection_failing", "1 while a read model's projector fails on an event and retries.", labels, nil),
	}
}

func (c *projectionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.lag
	ch <- c.position
	ch <- c.failing
}

func (c *projectionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	statuses, err := c.runner.Statuses(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.lag, err)
		return
	}
	for _, s := range statuses {
		failing := 0.0
		if s.Error != "" {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, s.Lag.Seconds(), s.Name)
		ch <- prometheus.MustNewConstMetric(c.position, prometheus.GaugeValue, float64(s.Position), s.Name)
		ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, failing, s.Name)
	}
}
