// Package config reads selfcare's configuration from the environment
// (API.md "The program"), with the documented defaults.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is the whole configuration of a selfcare process.
type Config struct {
	DatabaseURL string // empty: an embedded cluster in DataDir/pg
	DataDir     string
	Addr        string
	// MetricsAddr, if set, is where /metrics is served instead of Addr
	// (SELFCARE_METRICS_ADDR): a private address for Prometheus.
	MetricsAddr     string
	PublicURL       string
	AdminToken      string // empty: the back-office API refuses every call
	AuditorToken    string // empty: the auditor API refuses every call
	SMTPAddr        string // empty: mails are written as .eml files under DataDir/mail
	MailFrom        string
	Secret          string // empty: generated once into DataDir
	CaptchaDisabled bool   // tests only
	// RateLimitsDisabled turns the per-address throttle table of the HTTP
	// layer off (SELFCARE_RATE_LIMITS_DISABLED; tests that call one
	// endpoint many times from one address only).
	RateLimitsDisabled bool
	// ConsoleURL is the base URL of the cloud console that SSO assertions
	// open (SELFCARE_CONSOLE_URL).
	ConsoleURL string
	// Now, if set, is where the clock starts (tests only).
	Now *time.Time
	// SchedulerInterval is how often the subscription lifecycle
	// scheduler looks for starts and ends due (0: its default, 30 s).
	SchedulerInterval time.Duration
	// NATSURL, if set, has the server forward every event to NATS
	// JetStream (SELFCARE_NATS_URL; internal/natsfwd). Empty: no NATS.
	NATSURL string
}

// DefaultConsoleURL is the console of the Flexible Engine offer.
const DefaultConsoleURL = "https://console.prod-cloud-ocb.orange-business.com"

// FromEnv reads the configuration. Warnings name test-only switches that
// are on; the caller logs them loudly.
func FromEnv() (Config, []string, error) {
	c := Config{
		DatabaseURL:  os.Getenv("DATABASE_URL"),
		DataDir:      envOr("SELFCARE_DATA_DIR", "./.selfcare"),
		Addr:         envOr("SELFCARE_ADDR", "127.0.0.1:8080"),
		MetricsAddr:  os.Getenv("SELFCARE_METRICS_ADDR"),
		AdminToken:   os.Getenv("SELFCARE_ADMIN_TOKEN"),
		AuditorToken: os.Getenv("SELFCARE_AUDITOR_TOKEN"),
		SMTPAddr:     os.Getenv("SELFCARE_SMTP_ADDR"),
		MailFrom:     envOr("SELFCARE_MAIL_FROM", "selfcare@localhost"),
		Secret:       os.Getenv("SELFCARE_SECRET"),
		ConsoleURL:   strings.TrimRight(envOr("SELFCARE_CONSOLE_URL", DefaultConsoleURL), "/"),
		NATSURL:      os.Getenv("SELFCARE_NATS_URL"),
	}
	c.PublicURL = strings.TrimRight(envOr("SELFCARE_PUBLIC_URL", "http://"+c.Addr), "/")
	var warnings []string
	if v := os.Getenv("SELFCARE_CAPTCHA_DISABLED"); v == "1" || strings.EqualFold(v, "true") {
		c.CaptchaDisabled = true
		warnings = append(warnings, "SELFCARE_CAPTCHA_DISABLED is set: captchas are NOT checked (tests only, never in production)")
	}
	if v := os.Getenv("SELFCARE_RATE_LIMITS_DISABLED"); v == "1" || strings.EqualFold(v, "true") {
		c.RateLimitsDisabled = true
		warnings = append(warnings, "SELFCARE_RATE_LIMITS_DISABLED is set: requests per address are NOT limited (tests only, never in production)")
	}
	if v := os.Getenv("SELFCARE_NOW"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return c, nil, fmt.Errorf("SELFCARE_NOW: want an RFC 3339 instant: %w", err)
		}
		c.Now = &t
		warnings = append(warnings, "SELFCARE_NOW is set: the clock starts at "+t.UTC().Format(time.RFC3339)+" (tests only)")
	}
	if v := os.Getenv("SELFCARE_SCHEDULER_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, nil, fmt.Errorf("SELFCARE_SCHEDULER_INTERVAL: want a positive duration such as 30s")
		}
		c.SchedulerInterval = d
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return c, nil, fmt.Errorf("SELFCARE_ADMIN_TOKEN must be at least 16 characters")
	}
	if c.AuditorToken != "" && len(c.AuditorToken) < 16 {
		return c, nil, fmt.Errorf("SELFCARE_AUDITOR_TOKEN must be at least 16 characters")
	}
	if c.AdminToken != "" && c.AdminToken == c.AuditorToken {
		return c, nil, fmt.Errorf("SELFCARE_ADMIN_TOKEN and SELFCARE_AUDITOR_TOKEN must differ")
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return c, nil, fmt.Errorf("SELFCARE_DATA_DIR: %w", err)
	}
	c.DataDir = abs
	return c, warnings, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
