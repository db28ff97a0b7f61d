package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"selfcare/internal/config"
)

// TestHelpPrintsUsage runs the binary: help, -h and --help print a
// command's usage on stdout and succeed, instead of running it or
// logging an error.
func TestHelpPrintsUsage(t *testing.T) {
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "usage: selfcare <command>"},
		{[]string{"--help"}, "usage: selfcare <command>"},
		{[]string{"help", "db"}, "selfcare db start"},
		{[]string{"db", "--help"}, "selfcare db start"},
		{[]string{"db", "start", "-h"}, "selfcare db start"},
		{[]string{"audit", "verify", "--help"}, "usage: selfcare audit verify"},
		{[]string{"bench", "-h"}, "usage: selfcare bench"},
		{[]string{"projections", "help"}, "usage: selfcare projections rebuild"},
		{[]string{"serve", "--help"}, "usage: selfcare serve"},
		{[]string{"migrate", "-h"}, "usage: selfcare migrate"},
	} {
		cmd := exec.Command(bin, c.args...)
		cmd.Env = append(os.Environ(), "DATABASE_URL=postgres://nowhere.invalid/none") // help must not reach it
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("selfcare %s: %v (stderr %s)", strings.Join(c.args, " "), err, stderrOf(err))
			continue
		}
		if !strings.Contains(string(out), c.want) || strings.HasPrefix(string(out), "{") {
			t.Errorf("selfcare %s printed:\n%s\nwant a usage containing %q", strings.Join(c.args, " "), out, c.want)
		}
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// TestLogFormat: JSON lines when stderr is not a terminal (a pipe here),
// text when SELFCARE_LOG_FORMAT says so, and a clear error for a format
// that does not exist.
func TestLogFormat(t *testing.T) {
	read := func(format string) string {
		t.Helper()
		t.Setenv("SELFCARE_LOG_FORMAT", format)
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		logger, err := newLogger(w)
		if err != nil {
			t.Fatal(err)
		}
		logger.Info("hello", "k", "v")
		w.Close()
		b := make([]byte, 4096)
		n, _ := r.Read(b)
		r.Close()
		return string(b[:n])
	}
	var line map[string]any
	if out := read(""); json.Unmarshal([]byte(out), &line) != nil || line["msg"] != "hello" {
		t.Errorf("to a pipe, by default: %q, want a JSON line", out)
	}
	if out := read("text"); !strings.Contains(out, "msg=hello k=v") {
		t.Errorf("SELFCARE_LOG_FORMAT=text: %q", out)
	}
	t.Setenv("SELFCARE_LOG_FORMAT", "xml")
	if _, err := newLogger(os.Stderr); err == nil || !strings.Contains(err.Error(), "want text or json") {
		t.Errorf("SELFCARE_LOG_FORMAT=xml: %v", err)
	}
}

// TestStartHints: make run's note names the UI's address, the admin call
// of a first contract, and where the access email lands.
func TestStartHints(t *testing.T) {
	t.Setenv("SELFCARE_START_HINTS", "1")
	var b strings.Builder
	printStartHints(&b, config.Config{AdminToken: "some-admin-token-0123", DataDir: "/data"}, "127.0.0.1:8080")
	for _, want := range []string{
		"Open the customer area:  http://127.0.0.1:8080/",
		"curl -s -X POST http://127.0.0.1:8080/api/v1/admin/contracts -H 'Authorization: Bearer $SELFCARE_ADMIN_TOKEN'",
		"-d @docs/first-contract.json",
		"written as .eml files under /data/mail/",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the start note lacks %q:\n%s", want, b.String())
		}
	}
	if _, err := os.Stat("../../docs/first-contract.json"); err != nil {
		t.Errorf("the note names docs/first-contract.json: %v", err)
	}
	t.Setenv("SELFCARE_START_HINTS", "")
	b.Reset()
	printStartHints(&b, config.Config{}, "127.0.0.1:8080")
	if b.Len() != 0 {
		t.Errorf("without SELFCARE_START_HINTS the server printed %q", b.String())
	}
}
