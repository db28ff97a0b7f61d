// Package server assembles a selfcare process from its parts: event store,
// projections, commands, HTTP handlers and background workers. The
// selfcare command and the integration tests both build it here, so tests
// run exactly what production runs.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"selfcare/commands"
	"selfcare/domain/catalog"
	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/handlers"
	"selfcare/internal/auth"
	"selfcare/internal/clock"
	"selfcare/internal/config"
	"selfcare/internal/natsfwd"
	"selfcare/internal/oidcop"
	"selfcare/internal/secrets"
	"selfcare/migrations"
	"selfcare/projections"
	"selfcare/projections/audit"
	rmbilling "selfcare/projections/billing"
	"selfcare/projections/credentials"
	"selfcare/projections/members"
	"selfcare/projections/orders"
	"selfcare/projections/subscriptions"
	"selfcare/web"
)

// Options are what a server is built from.
type Options struct {
	Config config.Config
	Pool   *pgxpool.Pool
	Logger *slog.Logger
	Keys   *secrets.Keys
	// Clock overrides the clock of Config.Now (tests use a manual one).
	Clock clock.Clock
	// MaxProjectionLag is the lag beyond which /readyz reports not ready.
	MaxProjectionLag time.Duration
}

// Server is one selfcare process.
type Server struct {
	Options
	Store    *eventstore.Store
	Registry *registry.Registry
	Runner   *projections.Runner
	App      *commands.App
	Sessions *commands.Sessions
	// Operators are the named back-office and auditor accounts.
	Operators *commands.Operators
	Metrics   *prometheus.Registry
	HTTP      *handlers.Server
	// Account is authentication, my account, console credentials and emails.
	Account *Account
	// OIDC is the console's OpenID provider.
	OIDC *oidcop.Provider

	// Lifecycle records subscription starts and ends as their days come.
	Lifecycle *commands.Lifecycle
	// Forwarder copies the events to NATS JetStream; nil without
	// SELFCARE_NATS_URL.
	Forwarder *natsfwd.Forwarder

	cancel context.CancelFunc
	wg     sync.WaitGroup

	draining  chan struct{} // closed by Drain
	drainOnce sync.Once
}

// New builds a server on a migrated database.
func New(opts Options) (*Server, error) {
	if opts.Pool == nil {
		return nil, errors.New("server: no database pool")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Keys == nil {
		return nil, errors.New("server: no keys")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
		if opts.Config.Now != nil {
			opts.Clock = clock.StartingAt(*opts.Config.Now)
		}
	}
	if opts.MaxProjectionLag == 0 {
		opts.MaxProjectionLag = 30 * time.Second
	}
	s := &Server{Options: opts, Registry: registry.All(), Metrics: prometheus.NewRegistry(), draining: make(chan struct{})}
	s.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.Store = eventstore.New(opts.Pool, opts.Clock)
	s.Runner = projections.NewRunner(s.Store, opts.Logger, Projectors(s.Registry, opts.Keys)...)
	s.App = &commands.App{
		Store:      s.Store,
		Registry:   s.Registry,
		Clock:      opts.Clock,
		Logger:     opts.Logger,
		ReadModels: s.Runner,
		Observe:    commandMetrics(s.Metrics),
	}
	s.Metrics.MustRegister(newProjectionCollector(s.Runner))
	s.Metrics.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "selfcare_password_hashes_running",
			Help: "argon2id hashes running now (at most selfcare_password_hashes_limit)."},
			func() float64 { return float64(auth.Hashes().Running) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "selfcare_password_hashes_limit",
			Help: "argon2id hashes allowed at once in the process."},
			func() float64 { return float64(auth.Hashes().Limit) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "selfcare_password_hashes_peak",
			Help: "Most argon2id hashes ever running at once in the process."},
			func() float64 { return float64(auth.Hashes().Peak) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "selfcare_password_hashes_refused_total",
			Help: "Password checks refused (503) because the hash gate stayed full."},
			func() float64 { return float64(auth.Hashes().Refused) }),
	)
	s.Sessions = &commands.Sessions{App: s.App}
	s.Operators = &commands.Operators{App: s.App}
	s.Lifecycle = &commands.Lifecycle{App: s.App, Due: subscriptions.Queries{Pool: opts.Pool}, Interval: opts.Config.SchedulerInterval}
	if opts.Config.NATSURL != "" {
		s.Forwarder = natsfwd.New(natsfwd.Options{Store: s.Store, URL: opts.Config.NATSURL, Encode: handlers.FeedEvent, Logger: opts.Logger})
		s.Forwarder.Register(s.Metrics)
	}
	var err error
	if s.Account, err = s.newAccount(); err != nil {
		return nil, err
	}
	if s.OIDC, err = s.newOIDC(); err != nil {
		return nil, err
	}
	s.Sessions.Captchas = s.Account.Captchas
	s.HTTP = handlers.New(handlers.Deps{
		Sessions:           s.Sessions,
		Members:            members.Queries{Pool: opts.Pool},
		ReadModels:         s.Runner,
		SessionMembers:     sessionMembers{queries: members.Queries{Pool: opts.Pool}, clock: opts.Clock},
		Logger:             opts.Logger,
		Pool:               opts.Pool,
		Clock:              opts.Clock,
		Registry:           s.Metrics,
		Ready:              s.ready,
		AdminToken:         opts.Config.AdminToken,
		AuditorToken:       opts.Config.AuditorToken,
		Operators:          s.Operators,
		Features:           s.features(),
		MetricsElsewhere:   opts.Config.MetricsAddr != "",
		RateLimitsDisabled: opts.Config.RateLimitsDisabled,
	})
	return s, nil
}

// Projectors lists every read model of selfcare.
func Projectors(reg *registry.Registry, keys *secrets.Keys) []projections.Projector {
	return []projections.Projector{
		members.Projector(reg),
		orders.Projector(reg),
		subscriptions.Projector(reg),
		rmbilling.Projector(reg),
		audit.RoleChangesProjector(reg),
		audit.ChainProjector(keys.Derive(audit.ChainKeyPurpose)),
		credentials.Projector(reg),
	}
}

// features lists the HTTP features.
func (s *Server) features() []handlers.Feature {
	memberQueries := members.Queries{Pool: s.Pool}
	return append([]handlers.Feature{
		handlers.SessionsAPI{Sessions: s.Sessions, Provider: s.OIDC},
		handlers.OIDCProvider{Provider: s.OIDC},
		handlers.ContractsAPI{Contracts: &commands.Contracts{App: s.App}, Members: memberQueries},
		handlers.UsersAPI{Users: &commands.Users{App: s.App}, Members: memberQueries},
		handlers.OpenAPI{},
		handlers.WebUI{Assets: web.Assets()},
		handlers.CatalogAPI{Catalog: catalog.Default(), Members: memberQueries},
		handlers.OrdersAPI{Orders: &commands.Orders{App: s.App, Catalog: catalog.Default()}, Queries: orders.Queries{Pool: s.Pool}},
		handlers.SubscriptionsAPI{Queries: subscriptions.Queries{Pool: s.Pool}, Clock: s.Clock},
		s.invoicesAPI(memberQueries),
		handlers.EventFeedAPI{Store: s.Store, Registry: s.Registry, Draining: s.draining},
		handlers.AuditAPI{Store: s.Store, Queries: audit.Queries{Pool: s.Pool}, Pool: s.Pool,
			ChainKey: s.Keys.Derive(audit.ChainKeyPurpose)},
	}, s.Account.features(s)...)
}

func (s *Server) invoicesAPI(memberQueries members.Queries) handlers.InvoicesAPI {
	b := &commands.Billing{App: s.App}
	invoices := rmbilling.Queries{Pool: s.Pool}
	return handlers.InvoicesAPI{
		Billing:    b,
		Invoices:   invoices,
		Statements: rmbilling.Statements{Queries: invoices, Preview: b.Preview},
		Members:    memberQueries,
		Clock:      s.Clock,
	}
}

// Start prepares the read models (building those that are new or changed)
// and starts the background workers; they stop with Stop.
func (s *Server) Start(ctx context.Context) error {
	if err := s.Runner.Prepare(ctx); err != nil {
		return err
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.spawn(func() { s.Store.Listen(ctx, s.Logger) })
	s.spawn(func() { s.Runner.Follow(ctx) })
	s.spawn(func() { s.Lifecycle.Run(ctx) })
	if s.Forwarder != nil {
		s.spawn(func() { s.Forwarder.Run(ctx) })
	}
	s.Account.start(ctx, s)
	return nil
}

func (s *Server) spawn(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Drain tells requests that wait (long polls of the event feed) to answer
// now: the server is shutting down. Call it when the HTTP server starts
// its graceful shutdown (http.Server.RegisterOnShutdown); Stop calls it too.
func (s *Server) Drain() {
	s.drainOnce.Do(func() { close(s.draining) })
}

// Stop stops the background workers and waits for them.
func (s *Server) Stop() {
	s.Drain()
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// Handler is the HTTP handler.
func (s *Server) Handler() http.Handler { return s.HTTP }

// MetricsHandler serves the Prometheus metrics; with Config.MetricsAddr
// set it is the only way to them (Handler answers 404 for /metrics).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.Metrics, promhttp.HandlerOpts{})
}

// readiness is the body of /readyz.
type readiness struct {
	Status      string               `json:"status"`
	Database    string               `json:"database"`
	Migrations  string               `json:"migrations"`
	Projections []projections.Status `json:"projections"`
	// NATSForwarder is shown, never waited for: the portal serves while
	// NATS is away, and forwarding catches up after.
	NATSForwarder *natsfwd.Status `json:"nats_forwarder,omitempty"`
}

func (s *Server) ready(ctx context.Context) (bool, any) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	r := readiness{Status: "ready", Database: "ok", Migrations: "ok"}
	if err := s.Pool.Ping(ctx); err != nil {
		r.Status, r.Database = "not ready", err.Error()
		return false, r
	}
	if n, err := migrations.Pending(ctx, s.Pool); err != nil {
		r.Status, r.Migrations = "not ready", err.Error()
	} else if n > 0 {
		r.Status, r.Migrations = "not ready", fmt.Sprintf("%d pending", n)
	}
	st, err := s.Runner.Statuses(ctx)
	if err != nil {
		r.Status = "not ready"
		return false, r
	}
	r.Projections = st
	if s.Forwarder != nil {
		if fs, err := s.Forwarder.Status(ctx); err == nil {
			r.NATSForwarder = &fs
		}
	}
	for _, p := range st {
		if p.Lag > s.MaxProjectionLag || p.Error != "" {
			r.Status = "not ready"
		}
	}
	return r.Status == "ready", r
}
