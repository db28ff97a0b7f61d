package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStartStopRestartAndReuse(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "pg")
	opts := Options{
		Dir:      dir,
		Database: "lifecycle",
		Settings: TestSettings(),
		Logger:   slog.New(slog.NewTextHandler(t.Output(), nil)),
	}

	opts.Settings["cluster_name"] = `it's "quoted" $HOME` // must survive pg_ctl's trip through /bin/sh
	first := startCluster(t, opts)
	conn := connect(t, first.URL())
	var database, clusterName string
	if err := conn.QueryRow(ctx, "SELECT current_database(), current_setting('cluster_name')").Scan(&database, &clusterName); err != nil {
		t.Fatal(err)
	}
	if database != "lifecycle" || clusterName != opts.Settings["cluster_name"] {
		t.Errorf("connected to %q with cluster_name %q, want lifecycle and %q", database, clusterName, opts.Settings["cluster_name"])
	}
	conn.Close(ctx)
	checkFileModes(t, dir)
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.ping(ctx); err == nil {
		t.Fatal("server still answers after Stop")
	}
	if _, err := Attach(ctx, opts); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Attach to a stopped cluster: got %v, want ErrNotRunning", err)
	}

	// A port taken between choosing it and the server binding it: another is tried.
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	picks := 0
	first.pickPort = func() (int, error) {
		if picks++; picks == 1 {
			return takenPort, nil
		}
		return freePort()
	}
	if err := first.start(ctx, opts.Settings); err != nil {
		t.Fatal(err)
	}
	if picks != 2 || first.port == takenPort {
		t.Errorf("after a taken port: %d ports picked, server on %d (taken: %d)", picks, first.port, takenPort)
	}
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// A pid file left by a server that is gone must not prevent the start.
	writeStalePIDFile(t, filepath.Join(dir, dataDirName))
	second := startCluster(t, opts)
	started := postmasterStart(t, second.URL())

	// Start again without stopping, as after kill -9 of the program: the
	// running server is reused, not replaced.
	third := startCluster(t, opts)
	if third.port != second.port {
		t.Errorf("second Start chose port %d, want the running server's %d", third.port, second.port)
	}
	if again := postmasterStart(t, third.URL()); !again.Equal(started) {
		t.Errorf("postmaster start time changed from %v to %v: server was restarted, not reused", started, again)
	}
	attached, err := Attach(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if attached.URL() != second.URL() {
		t.Errorf("Attach URL differs from the running server's")
	}

	// A server killed with kill -9 leaves its pid file: Start starts a new one.
	if err := syscall.Kill(postmasterPID(t, dir), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	fourth := startCluster(t, opts)
	if again := postmasterStart(t, fourth.URL()); !again.After(started) {
		t.Errorf("after kill -9, postmaster start time %v, want after %v", again, started)
	}

	if err := fourth.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := second.ping(ctx); err == nil {
		t.Fatal("server still answers after Stop")
	}
	if err := second.Stop(ctx); err != nil {
		t.Errorf("Stop of a stopped server: %v", err)
	}
}

func TestServerOptionsQuoteForShell(t *testing.T) {
	got := serverOptions(5432, map[string]string{"b": "it's", "a": "x y"})
	want := `'-p' '5432' '-c' 'listen_addresses=127.0.0.1' '-c' 'unix_socket_directories=' '-c' 'a=x y' '-c' 'b=it'\''s'`
	if got != want {
		t.Errorf("serverOptions:\n got %s\nwant %s", got, want)
	}
}

func TestStartRejectsBadSettingNames(t *testing.T) {
	_, err := Start(t.Context(), Options{Dir: t.TempDir(), Settings: map[string]string{"fsync=off -c x": "y"}})
	if err == nil {
		t.Fatal("Start accepted an invalid setting name")
	}
}

func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	c, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func postmasterStart(t *testing.T, url string) time.Time {
	t.Helper()
	conn := connect(t, url)
	defer conn.Close(context.Background())
	var started time.Time
	if err := conn.QueryRow(t.Context(), "SELECT pg_postmaster_start_time()").Scan(&started); err != nil {
		t.Fatal(err)
	}
	return started
}

func checkFileModes(t *testing.T, dir string) {
	t.Helper()
	data, err := os.Stat(filepath.Join(dir, dataDirName))
	if err != nil {
		t.Fatal(err)
	}
	if data.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %o, want 0700", data.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		postgres, err := serverAccount()
		if err != nil {
			t.Fatal(err)
		}
		if uid := data.Sys().(*syscall.Stat_t).Uid; uid != postgres.uid {
			t.Errorf("data directory owned by uid %d, want postgres (%d)", uid, postgres.uid)
		}
	}
	password, err := os.Stat(filepath.Join(dir, passwordFileName))
	if err != nil {
		t.Fatal(err)
	}
	if password.Mode().Perm() != 0o600 {
		t.Errorf("password file mode %o, want 0600", password.Mode().Perm())
	}
}

func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	p, err := readPIDFile(filepath.Join(dir, dataDirName))
	if err != nil {
		t.Fatal(err)
	}
	return p.pid
}

// writeStalePIDFile writes a postmaster.pid naming a process that has exited.
func writeStalePIDFile(t *testing.T, dataDir string) {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	content := fmt.Sprintf("%d\n%s\n1700000000\n5999\n\n127.0.0.1\n0 0\nready   \n", cmd.Process.Pid, dataDir)
	if err := os.WriteFile(filepath.Join(dataDir, "postmaster.pid"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
