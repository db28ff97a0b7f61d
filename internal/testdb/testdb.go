// Package testdb gives each integration test its own migrated PostgreSQL
// database, on the server SELFCARE_TEST_DATABASE_URL names or else on a
// throwaway cluster the test process starts once.
//
// A package using it calls it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
package testdb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/internal/pgcluster"
	"selfcare/migrations"
)

// EnvURL names an admin URL (a role with CREATEDB) of a running server to
// create the test databases on, instead of starting one per test process.
const EnvURL = "SELFCARE_TEST_DATABASE_URL"

const (
	setupTimeout = 2 * time.Minute
	// templateLockKey is the pg_advisory_lock key that serialises building
	// the template database among test processes sharing a server.
	templateLockKey = 0x5e1fca7e
	tempDirPattern  = "selfcare-testdb-*"
	ownerFileName   = "owner.pid"
)

// server is what the test process shares: one admin pool, one template.
type server struct {
	adminURL string
	admin    *pgxpool.Pool
	template string
	cluster  *pgcluster.Cluster // started by this process; nil when EnvURL named the server
	dir      string             // the cluster's temporary directory
}

var (
	mu          sync.Mutex
	mainRunning bool
	shared      *server
	sharedErr   error
)

// Main runs the package's tests and then stops the cluster this process
// started, if any. Call it from TestMain: os.Exit(testdb.Main(m)).
func Main(m *testing.M) int {
	mu.Lock()
	mainRunning = true
	mu.Unlock()

	code := m.Run()

	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		if err := shared.close(); err != nil {
			fmt.Fprintln(os.Stderr, "testdb:", err)
			if code == 0 {
				code = 1
			}
		}
		shared = nil
	}
	return code
}

// New returns a pool on a fresh database with all migrations applied and no
// other data, dropped (WITH (FORCE)) at the end of the test. It is safe to
// call from parallel tests and from many test processes at once.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return NewWithConns(t, 0)
}

// NewWithConns is New with a pool of at most conns connections (0: pgx's
// default, as many as CPUs and at least 4), for tests whose goroutines
// must really run concurrently in PostgreSQL.
func NewWithConns(t testing.TB, conns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(NewURL(t))
	if err != nil {
		t.Fatalf("testdb: pool config: %v", err)
	}
	if conns > 0 {
		cfg.MaxConns = conns
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("testdb: open pool: %v", err)
	}
	t.Cleanup(pool.Close) // runs before the database is dropped
	return pool
}

// NewURL returns the connection URL of a fresh database like New's, without
// opening a pool (for tests that start a server process with DATABASE_URL).
// The database is dropped at the end of the test.
func NewURL(t testing.TB) string {
	t.Helper()
	s := sharedServer(t)
	name := "selfcare_test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(s.template)); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// The test's context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("testdb: drop database %s: %v", name, err)
		}
	})
	return withDatabase(s.adminURL, name)
}

func sharedServer(t testing.TB) *server {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if !mainRunning {
		t.Fatal("testdb: this package's TestMain must call os.Exit(testdb.Main(m)), which stops the test cluster")
	}
	if shared == nil && sharedErr == nil {
		shared, sharedErr = setUp()
	}
	if sharedErr != nil {
		t.Fatalf("testdb: %v", sharedErr)
	}
	return shared
}

func setUp() (_ *server, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s := &server{adminURL: os.Getenv(EnvURL)}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.close())
		}
	}()
	if s.adminURL == "" {
		if err := s.startCluster(ctx); err != nil {
			return nil, err
		}
	}
	cfg, err := pgxpool.ParseConfig(s.adminURL)
	if err != nil {
		return nil, fmt.Errorf("admin URL (%s): %w", EnvURL, err)
	}
	cfg.MaxConns = 4
	if s.admin, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("connect to the test server: %w", err)
	}
	if s.template, err = ensureTemplate(ctx, s.admin, s.adminURL); err != nil {
		return nil, err
	}
	return s, nil
}

// startCluster starts a throwaway cluster in a new temporary directory,
// after stopping those that test processes killed before their Main ended
// left behind.
func (s *server) startCluster(ctx context.Context) error {
	reapOrphans(ctx)
	dir, err := os.MkdirTemp("", tempDirPattern)
	if err != nil {
		return err
	}
	s.dir = dir
	// The server may run as the postgres user, which must traverse it.
	if err := os.Chmod(dir, 0o711); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFileName), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	s.cluster, err = pgcluster.Start(ctx, pgcluster.Options{
		Dir:      filepath.Join(dir, "pg"),
		Database: "postgres",
		Settings: pgcluster.TestSettings(),
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("start a test cluster (or set %s to a running server's admin URL): %w", EnvURL, err)
	}
	s.adminURL = s.cluster.URLFor("postgres")
	return nil
}

func (s *server) close() error {
	if s.admin != nil {
		s.admin.Close()
	}
	if s.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if err := s.cluster.Stop(ctx); err != nil {
			return fmt.Errorf("stop the test cluster: %w", err)
		}
	}
	if s.dir != "" {
		return os.RemoveAll(s.dir)
	}
	return nil
}

// ensureTemplate returns the name of a database holding every migration,
// named after their checksum, building it if absent. Test processes sharing
// a server take turns through an advisory lock; the template is built under
// another name and renamed when complete, so its existence means it is whole.
func ensureTemplate(ctx context.Context, admin *pgxpool.Pool, adminURL string) (string, error) {
	name := "selfcare_template_" + migrations.Checksum()
	conn, err := admin.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("connect to the test server: %w", err)
	}
	defer conn.Release()
	if exists, err := databaseExists(ctx, conn.Conn(), name); err != nil || exists {
		return name, err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return "", fmt.Errorf("lock template creation: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLockKey); err != nil {
			conn.Conn().Close(ctx) // dropping the session releases the lock
		}
	}()
	if exists, err := databaseExists(ctx, conn.Conn(), name); err != nil || exists {
		return name, err // another process built it while we waited
	}

	building := name + "_building"
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(building)+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop a half-built template: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(building)); err != nil {
		return "", fmt.Errorf("create template database: %w", err)
	}
	pool, err := pgxpool.New(ctx, withDatabase(adminURL, building))
	if err != nil {
		return "", fmt.Errorf("connect to template database: %w", err)
	}
	err = migrations.Up(ctx, pool)
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template database: %w", err)
	}
	for _, stmt := range []string{
		"ALTER DATABASE " + ident(building) + " RENAME TO " + ident(name),
		// Nobody connects to it by mistake, so copying it never finds it busy.
		"ALTER DATABASE " + ident(name) + " WITH IS_TEMPLATE true ALLOW_CONNECTIONS false",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return "", fmt.Errorf("finish template database: %w", err)
		}
	}
	return name, nil
}

func databaseExists(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	var exists bool
	err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return false, fmt.Errorf("look for database %s: %w", name, err)
	}
	return exists, nil
}

// reapOrphans stops and removes the clusters of test processes that died
// before their Main could (a test timeout, a Ctrl-C). Best effort: a cluster
// it cannot stop is left for the next run.
func reapOrphans(ctx context.Context) {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), tempDirPattern))
	if err != nil {
		return
	}
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFileName))
		if err != nil {
			continue // not ours, or its owner has not written the file yet
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || processAlive(pid) {
			continue
		}
		c, err := pgcluster.Attach(ctx, pgcluster.Options{Dir: filepath.Join(dir, "pg")})
		if err == nil {
			err = c.Stop(ctx)
		}
		if err == nil || errors.Is(err, pgcluster.ErrNotRunning) {
			os.RemoveAll(dir)
		}
	}
}

// processAlive reports whether pid runs; a killed process its parent has
// not reaped yet (a zombie, state Z in /proc) does not.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')') // "pid (comm) state ..."
	return i < 0 || len(stat) < i+3 || stat[i+2] != 'Z'
}

// withDatabase returns adminURL with its database replaced, for both URL
// and keyword/value connection strings.
func withDatabase(adminURL, database string) string {
	if strings.HasPrefix(adminURL, "postgres://") || strings.HasPrefix(adminURL, "postgresql://") {
		if u, err := url.Parse(adminURL); err == nil {
			u.Path, u.RawPath = "/"+database, ""
			return u.String()
		}
	}
	// A later keyword overrides an earlier one.
	return adminURL + " dbname='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(database) + "'"
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
