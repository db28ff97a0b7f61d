package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/internal/config"
	"selfcare/internal/pgcluster"
	"selfcare/internal/secrets"
	"selfcare/internal/server"
	"selfcare/migrations"
)

// database is an open pool, and how to let go of it.
type database struct {
	pool    *pgxpool.Pool
	cluster *pgcluster.Cluster // the embedded cluster, when this process started it
}

// openDatabase connects to DATABASE_URL, or to the embedded cluster in the
// data directory. With ownCluster, a cluster is started if none runs and
// stopped by close; otherwise a running one is used as is.
func openDatabase(ctx context.Context, cfg config.Config, logger *slog.Logger, ownCluster bool) (*database, error) {
	url := cfg.DatabaseURL
	db := &database{}
	if url == "" {
		opts := pgcluster.Options{Dir: filepath.Join(cfg.DataDir, "pg"), Logger: logger}
		c, err := pgcluster.Attach(ctx, opts)
		if err == nil && !ownCluster {
			url = c.URL()
		} else {
			if err != nil && !errors.Is(err, pgcluster.ErrNotRunning) {
				logger.Warn("embedded PostgreSQL: could not attach, starting it", "err", err)
			}
			logger.Info("no DATABASE_URL: using the embedded PostgreSQL cluster", "dir", opts.Dir)
			if c, err = pgcluster.Start(ctx, opts); err != nil {
				return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
			}
			db.cluster = c
			url = c.URL()
		}
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		db.close(logger)
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	if pcfg.MaxConns < 20 {
		pcfg.MaxConns = 20
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		db.close(logger)
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	db.pool = pool
	return db, nil
}

func (db *database) close(logger *slog.Logger) {
	if db.pool != nil {
		db.pool.Close()
	}
	if db.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := db.cluster.Stop(ctx); err != nil {
			logger.Error("stop the embedded PostgreSQL", "err", err)
		} else {
			logger.Info("embedded PostgreSQL stopped")
		}
	}
}

func loadConfig(logger *slog.Logger) (config.Config, error) {
	cfg, warnings, err := config.FromEnv()
	if err != nil {
		return cfg, err
	}
	for _, w := range warnings {
		logger.Warn("TEST-ONLY SWITCH: " + w)
	}
	return cfg, nil
}

func loadKeys(cfg config.Config) (*secrets.Keys, error) {
	if cfg.Secret != "" {
		return secrets.FromSecret(cfg.Secret)
	}
	return secrets.LoadOrCreate(cfg.DataDir)
}

// build opens the database, applies migrations and assembles a server.
func build(ctx context.Context, logger *slog.Logger, ownCluster bool) (*server.Server, *database, error) {
	cfg, err := loadConfig(logger)
	if err != nil {
		return nil, nil, err
	}
	keys, err := loadKeys(cfg)
	if err != nil {
		return nil, nil, err
	}
	db, err := openDatabase(ctx, cfg, logger, ownCluster)
	if err != nil {
		return nil, nil, err
	}
	if err := migrations.Up(ctx, db.pool); err != nil {
		db.close(logger)
		return nil, nil, err
	}
	srv, err := server.New(server.Options{Config: cfg, Pool: db.pool, Logger: logger, Keys: keys})
	if err != nil {
		db.close(logger)
		return nil, nil, err
	}
	return srv, db, nil
}

func runServe(ctx context.Context, logger *slog.Logger) error {
	srv, db, err := build(ctx, logger, true)
	if err != nil {
		return err
	}
	defer db.close(logger)
	if srv.Config.AdminToken == "" {
		logger.Warn("SELFCARE_ADMIN_TOKEN is not set: the back-office API refuses every call")
	}
	if srv.Config.AuditorToken == "" {
		logger.Warn("SELFCARE_AUDITOR_TOKEN is not set: the auditor API refuses every call")
	}
	// Background workers (projections, ...) outlive the signal: requests
	// being drained still wait for the read models. Stop ends them after.
	if err := srv.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	defer srv.Stop()

	httpSrv := &http.Server{
		Addr:              srv.Config.Addr,
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // long polls of the event feed last up to 60 s
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	httpSrv.RegisterOnShutdown(srv.Drain) // long polls answer at once instead of holding the drain
	ln, err := net.Listen("tcp", srv.Config.Addr)
	if err != nil {
		return err
	}
	logger.Info("selfcare serving", "addr", ln.Addr().String(), "public_url", srv.Config.PublicURL)
	printStartHints(os.Stderr, srv.Config, ln.Addr().String())
	errc := make(chan error, 2)
	go func() { errc <- httpSrv.Serve(ln) }()
	if addr := srv.Config.MetricsAddr; addr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		metricsSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		mln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		logger.Info("selfcare serving metrics", "addr", mln.Addr().String())
		go func() { errc <- metricsSrv.Serve(mln) }()
		defer metricsSrv.Close()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil {
		logger.Error("drain requests", "err", err)
	}
	return nil
}

func runMigrate(ctx context.Context, logger *slog.Logger) error {
	cfg, err := loadConfig(logger)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg, logger, false)
	if err != nil {
		return err
	}
	defer db.close(logger)
	if err := migrations.Up(ctx, db.pool); err != nil {
		return err
	}
	logger.Info("migrations applied")
	return nil
}
