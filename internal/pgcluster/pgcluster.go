// Package pgcluster runs a private PostgreSQL server from the locally
// installed binaries: initialised in a directory on first use, reused while it runs.
package pgcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Options says where the cluster lives and how its server runs.
type Options struct {
	Dir      string            // cluster directory; created and initialised (initdb) on first use
	Database string            // database to create if absent; default "selfcare"
	Settings map[string]string // extra server settings passed as -c name=value (e.g. fsync=off for tests)
	Logger   *slog.Logger
}

// ErrNotRunning is returned by Attach when no server runs on the cluster directory.
var ErrNotRunning = errors.New("no PostgreSQL server is running on this cluster directory")

// Layout of a cluster directory.
const (
	dataDirName      = "data"               // the PostgreSQL data directory
	stagingSuffix    = ".initdb"            // initdb writes here, renamed to data when complete
	passwordFileName = "superuser.password" // the generated superuser password, 0600
	logFileName      = "server.log"
	lockFileName     = "cluster.lock" // serialises Start and Stop across processes
)

const (
	superuser      = "postgres"
	listenHost     = "127.0.0.1"
	serverTimeout  = 60 * time.Second // for pg_ctl start/stop and for a server that is still starting
	startAttempts  = 5                // a free port can be taken between our probe and the server's bind
	defaultDBName  = "selfcare"
	connectTimeout = 5 * time.Second
)

// Cluster is a PostgreSQL server running on a cluster directory, started by
// Start or found by Attach.
type Cluster struct {
	dir      string
	dataDir  string
	binDir   string
	database string
	runAs    *account // nil: the server runs as ourselves
	logger   *slog.Logger

	port     int
	password string

	pickPort func() (int, error) // freePort; tests substitute a taken one
}

// Start returns the server running on opts.Dir, starting it first if none
// is running. On first use it creates the directory and runs initdb with a
// generated superuser password. As root it runs the server as the postgres
// system user. It then creates opts.Database if absent.
// Start returns an error wrapping ErrNotInstalled if PostgreSQL is not installed.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	if err := validateSettings(opts.Settings); err != nil {
		return nil, err
	}
	if err := c.prepareDir(); err != nil {
		return nil, err
	}
	unlock, err := c.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if err := c.initialise(ctx, opts.Settings); err != nil {
		return nil, err
	}
	if c.password, err = c.readPassword(); err != nil {
		return nil, err
	}
	running, err := c.findRunning(ctx)
	if err != nil {
		return nil, err
	}
	if running {
		c.logger.Info("reusing the PostgreSQL server already running on the cluster directory (its settings stay as they were)",
			"dir", c.dir, "port", c.port)
	} else if err := c.start(ctx, opts.Settings); err != nil {
		return nil, err
	}
	if err := c.createDatabase(ctx, c.database); err != nil {
		if !running {
			// Leave things as we found them. Stop takes the lock we hold.
			unlock()
			err = errors.Join(err, c.Stop(context.WithoutCancel(ctx)))
		}
		return nil, err
	}
	return c, nil
}

// Attach returns the server already running on opts.Dir without starting
// one, or an error wrapping ErrNotRunning. It does not create opts.Database.
func Attach(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err != nil {
		return nil, fmt.Errorf("%s: %w", c.dir, ErrNotRunning)
	}
	unlock, err := c.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if c.password, err = c.readPassword(); err != nil {
		return nil, err
	}
	running, err := c.findRunning(ctx)
	if err != nil {
		return nil, err
	}
	if !running {
		return nil, fmt.Errorf("%s: %w", c.dir, ErrNotRunning)
	}
	return c, nil
}

func newCluster(opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("pgcluster: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("cluster directory %s: %w", opts.Dir, err)
	}
	// pg_ctl hands the data directory and log file to /bin/sh inside double
	// quotes, unescaped: refuse what the shell would interpret there.
	if strings.ContainsAny(dir, "\"$`\\\n") {
		return nil, fmt.Errorf("cluster directory %q: PostgreSQL's pg_ctl cannot handle paths containing \", $, `, \\ or newlines: choose another", dir)
	}
	binDir, err := FindBinaries()
	if err != nil {
		return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	// A cluster made by an older major version needs that version's server,
	// which Debian keeps installed beside the newer one until it is removed.
	if v, err := os.ReadFile(filepath.Join(dir, dataDirName, "PG_VERSION")); err == nil {
		if own := filepath.Join("/usr/lib/postgresql", strings.TrimSpace(string(v)), "bin"); hasServerBinaries(own) {
			binDir = own
		}
	}
	runAs, err := serverAccount()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		dir:      dir,
		dataDir:  filepath.Join(dir, dataDirName),
		binDir:   binDir,
		database: opts.Database,
		runAs:    runAs,
		logger:   opts.Logger,
		pickPort: freePort,
	}
	if c.database == "" {
		c.database = defaultDBName
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// URL returns the superuser URL of opts.Database.
func (c *Cluster) URL() string { return c.URLFor(c.database) }

// URLFor returns the superuser URL of the named database (pgx-compatible,
// TCP on 127.0.0.1, sslmode=disable).
func (c *Cluster) URLFor(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, c.password),
		Host:     net.JoinHostPort(listenHost, strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Stop stops the server with pg_ctl's fast mode (sessions are disconnected,
// transactions rolled back) and waits until it has exited. Stopping a server
// that is not running is not an error.
func (c *Cluster) Stop(ctx context.Context) error {
	unlock, err := c.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	pid, err := readPIDFile(c.dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil && !isServerProcess(pid.pid) {
		return c.removeStalePIDFile(pid.pid)
	}
	out, err := c.command(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", "fast", "-w", "-t", seconds(serverTimeout)).CombinedOutput()
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(c.dataDir, "postmaster.pid")); errors.Is(statErr, fs.ErrNotExist) {
			return nil // it stopped meanwhile
		}
		return fmt.Errorf("stop PostgreSQL on %s: %w: %s", c.dataDir, err, strings.TrimSpace(string(out)))
	}
	c.logger.Info("stopped PostgreSQL", "dir", c.dir, "port", c.port)
	return nil
}

// prepareDir creates the cluster directory and, when the server runs as
// another user, hands the directory to that user and makes it reachable.
func (c *Cluster) prepareDir() error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("create cluster directory: %w", err)
	}
	if c.runAs == nil {
		return nil
	}
	if err := c.runAs.adoptDir(c.dir); err != nil {
		return err
	}
	return c.runAs.makeReachable(c.dir, c.logger)
}

// initialise runs initdb unless the data directory is initialised. initdb
// writes into a staging directory renamed when complete, so an interrupted
// first run leaves nothing that looks like a cluster.
func (c *Cluster) initialise(ctx context.Context, settings map[string]string) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	if err := os.Remove(c.dataDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s exists but holds no PostgreSQL cluster: remove it to let a new one be created: %w", c.dataDir, err)
	}
	staging := c.dataDir + stagingSuffix
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("remove leftover of an interrupted initdb: %w", err)
	}
	if err := c.writePassword(); err != nil {
		return err
	}
	args := []string{
		"-D", staging,
		"--username=" + superuser,
		"--pwfile=" + filepath.Join(c.dir, passwordFileName),
		"--auth-host=scram-sha-256",
		"--auth-local=peer",
		"--encoding=UTF8",
		"--locale=" + serverLocale(),
	}
	if settings["fsync"] == "off" {
		args = append(args, "--no-sync")
	}
	c.logger.Info("initialising a PostgreSQL cluster", "dir", c.dataDir)
	if out, err := c.command(ctx, "initdb", args...).CombinedOutput(); err != nil {
		_ = os.RemoveAll(staging) // best effort: the next run removes it anyway
		return fmt.Errorf("initdb in %s: %w: %s", staging, err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(staging, c.dataDir); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	return nil
}

// serverLocale prefers C.UTF-8 (byte-order collation, but Unicode-aware
// upper/lower) when the system has it.
func serverLocale() string {
	for _, dir := range []string{"/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8"} {
		if _, err := os.Stat(dir); err == nil {
			return "C.UTF-8"
		}
	}
	return "C"
}

func (c *Cluster) writePassword() error {
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return fmt.Errorf("generate superuser password: %w", err)
	}
	path := filepath.Join(c.dir, passwordFileName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(hex.EncodeToString(buf)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write superuser password: %w", err)
	}
	if c.runAs != nil {
		// initdb, running as the server user, reads it.
		if err := os.Chown(tmp, int(c.runAs.uid), int(c.runAs.gid)); err != nil {
			return fmt.Errorf("write superuser password: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write superuser password: %w", err)
	}
	return nil
}

func (c *Cluster) readPassword() (string, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, passwordFileName))
	if err != nil {
		return "", fmt.Errorf("read the superuser password of %s (if lost, remove the directory to start afresh): %w", c.dir, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// findRunning looks for a server left running on the data directory (by an
// earlier run, perhaps killed) through its postmaster.pid, waits while it
// starts or stops, and checks it answers. A stale pid file is removed.
func (c *Cluster) findRunning(ctx context.Context) (bool, error) {
	deadline := time.Now().Add(serverTimeout)
	var pingDeadline time.Time // a ready server that refuses connections may be dying: give it a moment
	for {
		pid, err := readPIDFile(c.dataDir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return false, nil
		case err != nil:
			// The server writes the file in steps: read it again shortly.
		case !isServerProcess(pid.pid):
			return false, c.removeStalePIDFile(pid.pid)
		case pid.status == "ready":
			c.port = pid.port
			err := c.ping(ctx)
			if err == nil {
				return true, nil
			}
			if pingDeadline.IsZero() {
				pingDeadline = time.Now().Add(5 * time.Second)
			}
			if time.Now().After(pingDeadline) {
				return false, fmt.Errorf("a PostgreSQL server (pid %d) runs on %s but does not answer on port %d "+
					"(stop it with: selfcare db stop --dir %s): %w", pid.pid, c.dataDir, pid.port, c.dir, err)
			}
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("the PostgreSQL server running on %s did not become ready within %s (see %s)",
				c.dataDir, serverTimeout, filepath.Join(c.dir, logFileName))
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) removeStalePIDFile(pid int) error {
	if err := os.Remove(filepath.Join(c.dataDir, "postmaster.pid")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale postmaster.pid: %w", err)
	}
	c.logger.Info("removed the stale postmaster.pid of a server that is gone", "dir", c.dataDir, "pid", pid)
	return nil
}

// start starts the server on a free port, with another port if the chosen
// one was taken before the server could bind it.
func (c *Cluster) start(ctx context.Context, settings map[string]string) error {
	logPath := filepath.Join(c.dir, logFileName)
	for attempt := 1; ; attempt++ {
		port, err := c.pickPort()
		if err != nil {
			return err
		}
		logStart := fileSize(logPath)
		out, err := c.command(ctx, "pg_ctl", "start", "-w", "-t", seconds(serverTimeout),
			"-D", c.dataDir, "-l", logPath, "-o", serverOptions(port, settings)).CombinedOutput()
		if err == nil {
			c.port = port
			c.logger.Info("started PostgreSQL", "dir", c.dir, "port", port, "log", logPath)
			return nil
		}
		serverLog := readFrom(logPath, logStart)
		if attempt < startAttempts && strings.Contains(serverLog, "could not bind") {
			c.logger.Warn("the chosen port was taken before PostgreSQL could bind it; trying another", "port", port)
			continue
		}
		return fmt.Errorf("start PostgreSQL on %s: %w: %s\nserver log (%s):\n%s",
			c.dataDir, err, strings.TrimSpace(string(out)), logPath, lastLines(serverLog, 20))
	}
}

// serverOptions is the -o argument of pg_ctl start, which pg_ctl passes
// through /bin/sh: every word is single-quoted.
func serverOptions(port int, settings map[string]string) string {
	words := []string{"-p", strconv.Itoa(port),
		"-c", "listen_addresses=" + listenHost,
		"-c", "unix_socket_directories=", // a socket path may exceed the 107-byte limit; TCP only
	}
	for _, name := range slices.Sorted(maps.Keys(settings)) {
		words = append(words, "-c", name+"="+settings[name])
	}
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

func validateSettings(settings map[string]string) error {
	for name := range settings {
		if !settingName.MatchString(name) {
			return fmt.Errorf("invalid PostgreSQL setting name %q", name)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(listenHost, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) ping(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(c.URLFor("postgres"))
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = connectTimeout
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}

func (c *Cluster) createDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URLFor("postgres"))
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL on port %d: %w", c.port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42P04" {
		return nil // created concurrently
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	c.logger.Info("created database", "database", name)
	return nil
}

// command prepares a PostgreSQL program to run as the server's user, in the
// cluster directory (which that user can read, unlike perhaps our own), with
// no PG* variables of ours leaking into it.
func (c *Cluster) command(ctx context.Context, program string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, program), args...)
	cmd.Dir = c.dir
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	// Own process group: a Ctrl-C meant for us does not reach pg_ctl mid-way.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.runAs != nil {
		cmd.SysProcAttr.Credential = c.runAs.credential()
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// lock serialises Start and Stop on one cluster directory across processes.
func (c *Cluster) lock(ctx context.Context) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(c.dir, lockFileName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock cluster directory: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return sync.OnceFunc(func() { f.Close() }), nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock cluster directory: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for another process starting or stopping PostgreSQL on %s: %w", c.dir, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pidFile is what PostgreSQL's postmaster.pid says of a running server.
type pidFile struct {
	pid    int
	port   int
	status string // "starting", "ready", "stopping" or "standby"
}

// readPIDFile reads postmaster.pid: line 1 the pid, line 4 the port,
// line 8 the status.
func readPIDFile(dataDir string) (pidFile, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return pidFile{}, err
	}
	lines := strings.Split(string(b), "\n")
	var p pidFile
	if p.pid, err = strconv.Atoi(strings.TrimSpace(lines[0])); err != nil || p.pid <= 0 {
		return pidFile{}, fmt.Errorf("postmaster.pid: bad pid line %q", lines[0])
	}
	if len(lines) >= 4 {
		p.port, _ = strconv.Atoi(strings.TrimSpace(lines[3])) // absent while starting
	}
	if len(lines) >= 8 {
		p.status = strings.TrimSpace(lines[7])
	}
	return p, nil
}

// isServerProcess reports whether pid is alive and, where /proc tells, a
// PostgreSQL server rather than an unrelated process that reused the pid or
// a killed server not yet reaped (a zombie).
func isServerProcess(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) || !procMounted()
	}
	// "pid (comm) state ...": comm may itself contain spaces and parentheses.
	open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || closing < open || len(stat) < closing+3 {
		return true
	}
	comm, state := string(stat[open+1:closing]), stat[closing+2]
	if state == 'Z' || state == 'X' {
		return false
	}
	return comm == "postgres" || comm == "postmaster"
}

func procMounted() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

func seconds(d time.Duration) string { return strconv.Itoa(int(d.Seconds())) }

func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, offset, 1<<20))
	if err != nil {
		return ""
	}
	return string(b)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestSettings are server settings for throwaway test clusters: durability
// off (a crash may lose data, which tests never keep) and room for many
// parallel test connections.
func TestSettings() map[string]string {
	return map[string]string{
		"fsync":              "off",
		"synchronous_commit": "off",
		"full_page_writes":   "off",
		"max_connections":    "400",
	}
}
