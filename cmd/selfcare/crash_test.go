package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/internal/testdb"
	"selfcare/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// buildBinary builds selfcare once per test process.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "selfcare-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "selfcare")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// process is a selfcare serve started by a test.
type process struct {
	cmd  *exec.Cmd
	addr string
	logs *bytes.Buffer
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startServe(t *testing.T, dbURL, addr, dataDir string) *process {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{addr: addr, logs: &bytes.Buffer{}}
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"SELFCARE_ADDR="+addr,
		"SELFCARE_DATA_DIR="+dataDir,
		"SELFCARE_ADMIN_TOKEN="+testkit.AdminToken,
		"SELFCARE_SECRET=crash-test-secret-0123456789abcdef0123",
	)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("selfcare serve did not become ready:\n%s", p.logs)
	return nil
}

// createContracts creates contracts until stop is closed and returns the
// ids of those the server acknowledged (201). It closes firstAck with the
// first acknowledgement.
func createContracts(addr string, workers int, stop <-chan struct{}, firstAck chan<- struct{}) []string {
	var mu sync.Mutex
	var acked []string
	var once sync.Once
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				body, _ := json.Marshal(testkit.ContractBody("Crash", testkit.Unique("crash.user.")))
				req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/admin/contracts", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testkit.AdminToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					continue // the server died under us: not acknowledged
				}
				var out struct {
					ID string `json:"id"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					mu.Lock()
					acked = append(acked, out.ID)
					mu.Unlock()
					once.Do(func() { close(firstAck) })
				}
			}
		}()
	}
	wg.Wait()
	return acked
}

func waitFirstAck(t *testing.T, firstAck <-chan struct{}, p *process) {
	t.Helper()
	select {
	case <-firstAck:
	case <-time.After(30 * time.Second):
		t.Fatalf("no write was acknowledged within 30 s:\n%s", p.logs)
	}
}

func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	dbURL := testdb.NewURL(t)
	dataDir := t.TempDir()
	addr := freeAddr(t)
	p := startServe(t, dbURL, addr, dataDir)

	stop := make(chan struct{})
	done := make(chan []string)
	firstAck := make(chan struct{})
	go func() { done <- createContracts(addr, 8, stop, firstAck) }()
	// Kill in the middle of the load: once writes are being acknowledged
	// (a loaded machine may take seconds for the first), a little later.
	waitFirstAck(t, firstAck, p)
	time.Sleep(time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	close(stop)
	acked := <-done
	if len(acked) == 0 {
		t.Fatalf("no write was acknowledged before the kill:\n%s", p.logs)
	}

	// Restart on the same database: every acknowledged contract is there,
	// in the events and, once caught up, in the read model; no command was
	// half applied.
	startServe(t, dbURL, addr, dataDir)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, id := range acked {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'ContractCreated'`, "contract-"+id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("acknowledged contract %s has %d ContractCreated events after kill -9", id, n)
		}
	}
	var created, referents, inView int
	// Ready means the read models are not far behind, not that they have
	// caught up: the read model redoes what the kill lost of its work.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err = conn.QueryRow(ctx, `
SELECT (SELECT count(*) FROM events WHERE event_type = 'ContractCreated'),
       (SELECT count(*) FROM events WHERE event_type = 'UserAddedToContract'),
       (SELECT count(*) FROM rm_members.contracts)`).Scan(&created, &referents, &inView)
		if err != nil {
			t.Fatal(err)
		}
		if created < len(acked) || created != referents {
			t.Fatalf("after kill -9: %d contracts created, %d referents added, %d acknowledged: a command was half applied", created, referents, len(acked))
		}
		if inView == created {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after restart the read model shows %d contracts, the events %d", inView, created)
		}
	}
}

func TestSIGTERMDrainsRequestsAndStopsCleanly(t *testing.T) {
	dbURL := testdb.NewURL(t)
	addr := freeAddr(t)
	p := startServe(t, dbURL, addr, t.TempDir())

	stop := make(chan struct{})
	done := make(chan []string)
	firstAck := make(chan struct{})
	go func() { done <- createContracts(addr, 4, stop, firstAck) }()
	waitFirstAck(t, firstAck, p)
	time.Sleep(500 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- p.cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("selfcare serve exited with %v after SIGTERM:\n%s", err, p.logs)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("selfcare serve did not stop within 40 s of SIGTERM:\n%s", p.logs)
	}
	close(stop)
	acked := <-done
	if len(acked) == 0 {
		t.Fatal("no request was served before SIGTERM")
	}
	if !bytes.Contains(p.logs.Bytes(), []byte("draining requests")) {
		t.Fatalf("no drain in the logs:\n%s", p.logs)
	}
	if bytes.Contains(p.logs.Bytes(), []byte(`"level":"ERROR"`)) {
		t.Fatalf("errors while draining:\n%s", p.logs)
	}
}
