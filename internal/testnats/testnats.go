// Package testnats runs a real nats-server with JetStream (file storage)
// for tests: Debian's nats-server, which make test installs. Outside CI a
// machine without it skips these tests and says why; in CI (CI=true) its
// absence fails them.
package testnats

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Binary is the nats-server to run, or "" if there is none.
func Binary() string {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Require returns nats-server's path; without it the test is skipped, or
// failed in CI.
func Require(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("nats-server is not installed: make test installs it (apt-get install nats-server)")
		}
		t.Skip("nats-server is not installed (apt-get install nats-server, or make test): skipping the NATS JetStream tests")
	}
	return bin
}

// Server is a nats-server process with JetStream on a directory of its own.
type Server struct {
	URL  string
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	logs *lockedBuffer
}

// Start starts a server; it is killed at the test's cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{bin: Require(t), dir: t.TempDir(), port: freePort(t), logs: &lockedBuffer{}}
	s.URL = "nats://127.0.0.1:" + strconv.Itoa(s.port)
	s.start(t)
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("nats-server logs:\n%s", s.logs)
		}
	})
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.cmd = exec.Command(s.bin, "-js", "-sd", s.dir, "-a", "127.0.0.1", "-p", strconv.Itoa(s.port))
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := s.ping(); err == nil {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("nats-server did not start with JetStream: %v\n%s", err, s.logs)
		}
		select {
		case <-s.done:
			t.Fatalf("nats-server exited:\n%s", s.logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ping checks that JetStream answers.
func (s *Server) ping() error {
	nc, err := nats.Connect(s.URL, nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

func (s *Server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Kill9 kills the server the hard way: what it had not written to its
// files is lost to it.
func (s *Server) Kill9(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
}

// Restart starts the server again on the same port and directory.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.start(t)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Message is a message of a JetStream stream, as a consumer reads it; ID
// is its Nats-Msg-Id.
type Message struct {
	Subject string
	ID      string
	Header  nats.Header
	Data    []byte
}

// ReadStream reads the whole JetStream stream named stream, in order, on
// the server at url.
func ReadStream(t testing.TB, url, stream string) []Message {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []Message
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Message{Subject: m.Subject, ID: m.Header.Get(nats.MsgIdHdr), Header: m.Header, Data: m.Data})
	}
	return out
}
