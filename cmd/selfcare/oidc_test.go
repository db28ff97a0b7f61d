package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"selfcare/internal/oidcop"
	"selfcare/internal/testkit"
)

// TestOIDCClientsCommand registers, lists and removes a console the way an
// operator would.
func TestOIDCClientsCommand(t *testing.T) {
	env := testkit.New(t)
	clients := env.Server.OIDC.Clients
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := clientsCommand(ctx, clients, args, &out)
		return out.String(), err
	}

	out, err := run("add", "--id", "console", "--name", "Flexible Engine console",
		"--redirect-uri", "https://console.example/callback", "--redirect-uri", "https://console.example/cb2",
		"--initiate-login-uri", "https://console.example/initiate")
	secret := regexp.MustCompile(`client_secret: (\S+)`).FindStringSubmatch(out)
	if err != nil || secret == nil || len(secret[1]) < 32 {
		t.Fatalf("add: %q, %v", out, err)
	}
	var stored string
	if err := env.Pool.QueryRow(ctx, `SELECT secret_hash FROM oidc_clients WHERE client_id = 'console'`).Scan(&stored); err != nil || strings.Contains(stored, secret[1]) {
		t.Errorf("the secret is stored as %q (%v), want only its hash", stored, err)
	}
	if _, err := run("add", "--id", "console", "--redirect-uri", "https://console.example/callback"); !errors.Is(err, oidcop.ErrClientExists) {
		t.Errorf("the same id twice: %v", err)
	}
	for _, bad := range [][]string{
		{"add", "--id", "x2", "--redirect-uri", "/relative"},
		{"add", "--id", "x3", "--redirect-uri", "https://console.example/cb#fragment"},
		{"add", "--id", "bad id", "--redirect-uri", "https://console.example/cb"},
	} {
		if _, err := run(bad...); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	var ue usageError
	if _, err := run("add", "--id", "x4"); !errors.As(err, &ue) {
		t.Errorf("no redirect URI: %v, want usage", err)
	}
	out, err = run("list")
	if err != nil || !strings.Contains(out, "console\t") || !strings.Contains(out, "https://console.example/callback,https://console.example/cb2") ||
		!strings.Contains(out, "initiate_login_uri=https://console.example/initiate") || strings.Contains(out, secret[1]) {
		t.Errorf("list: %q, %v", out, err)
	}
	if c, err := clients.Console(ctx); err != nil || c.ID != "console" {
		t.Errorf("the button's console: %+v, %v", c, err)
	}
	if out, err := run("remove", "console"); err != nil || !strings.Contains(out, "removed console") {
		t.Errorf("remove: %q, %v", out, err)
	}
	if _, err := run("remove", "console"); !errors.Is(err, oidcop.ErrClientUnknown) {
		t.Errorf("remove twice: %v", err)
	}
}
