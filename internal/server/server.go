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

	"selfcare/commands"
	"selfcare/domain/catalog"
	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/handlers"
	"selfcare/internal/clock"
	"selfcare/internal/config"
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
	Metrics  *prometheus.Registry
	HTTP     *handlers.Server
	// Account is authentication, my account, console credentials and emails.
	Account *Account

	// Lifecycle records subscription starts and ends as their days come.
	Lifecycle *commands.Lifecycle

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
	s.Sessions = &commands.Sessions{App: s.App}
	s.Lifecycle = &commands.Lifecycle{App: s.App, Due: subscriptions.Queries{Pool: opts.Pool}, Interval: opts.Config.SchedulerInterval}
	var err error
	if s.Account, err = s.newAccount(); err != nil {
		return nil, err
	}
	s.HTTP = handlers.New(handlers.Deps{
		Sessions:     s.Sessions,
		Operators:    &commands.Operators{App: s.App},
		Members:      members.Queries{Pool: opts.Pool},
		Logger:       opts.Logger,
		Pool:         opts.Pool,
		Clock:        opts.Clock,
		Registry:     s.Metrics,
		Ready:        s.ready,
		AdminToken:   opts.Config.AdminToken,
		AuditorToken: opts.Config.AuditorToken,
		Features:     s.features(),
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
		handlers.SessionsAPI{Sessions: s.Sessions},
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

// readiness is the body of /readyz.
type readiness struct {
	Status      string               `json:"status"`
	Database    string               `json:"database"`
	Migrations  string               `json:"migrations"`
	Projections []projections.Status `json:"projections"`
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
	for _, p := range st {
		if p.Lag > s.MaxProjectionLag || p.Error != "" {
			r.Status = "not ready"
		}
	}
	return r.Status == "ready", r
}
