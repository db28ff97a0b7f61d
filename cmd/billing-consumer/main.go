// Command billing-consumer follows selfcare's event feed and keeps, in its
// own PostgreSQL database, the revenue of each contract per period (from
// InvoiceIssued) and counts of orders placed, completed and rejected and
// of subscriptions started and ended. It prints a contract's running
// totals each time they change:
//
//	OCB0000124  invoices: 3  revenue excl. VAT: €1,234.56  orders: 5 placed / 4 completed  subscriptions: 2 in progress
//
// It never counts an event twice nor misses one, even if killed at any
// instant: the feed's next_after is its checkpoint, stored in its own
// database in the same transaction as the effects of the page it ends.
// After a crash it resumes from the last committed checkpoint; a page
// applied half-way was rolled back whole.
//
// Why the HTTP feed and not the watermill bus: the bus reads selfcare's
// events table and keeps each consumer group's offset in selfcare's own
// database, so a consumer of the bus needs credentials to that database,
// is coupled to its schema, and can make its effects atomic with its
// offset only if they live in that same database. This consumer's
// effects live in its own database; through the feed, its checkpoint lives
// there too, next to them, and all it needs of selfcare is a URL and a
// feed token (auditor or back-office). The feed is gap-safe, so following
// next_after sees every event exactly once, in commit order.
//
// With -nats URL it follows instead the stream that selfcare serve
// forwards to NATS JetStream (SELFCARE_NATS_URL), through a durable
// consumer, optionally of some subjects only (one contract, some event
// types), into the same ledger: see nats.go.
//
// Usage:
//
//	billing-consumer [-url URL] [-database URL] [-name NAME] [-wait 30s] [-limit 500]
//	billing-consumer -nats URL [-subject selfcare.events.>] [-durable NAME] [-ack-wait 30s] [-database URL] [-name NAME]
//
// Configuration, flags first, else the environment: SELFCARE_URL (default
// http://127.0.0.1:8080), SELFCARE_FEED_TOKEN (required; prefer the
// environment to -token, which other users see in the process list),
// CONSUMER_DATABASE_URL (required), CONSUMER_NAME (default "billing":
// consumers of different names keep separate totals in one database).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/internal/natsfwd"
)

type config struct {
	URL         string
	Token       string
	DatabaseURL string
	Name        string
	Wait        time.Duration
	Limit       int
	// NATS mode (-nats): the stream on NATS JetStream instead of the feed.
	NATS    string
	Subject string
	Durable string
	AckWait time.Duration
}

func parseConfig(args []string) (config, error) {
	fs := flag.NewFlagSet("billing-consumer", flag.ContinueOnError)
	var c config
	fs.StringVar(&c.URL, "url", envOr("SELFCARE_URL", "http://127.0.0.1:8080"), "base URL of selfcare (SELFCARE_URL)")
	fs.StringVar(&c.Token, "token", os.Getenv("SELFCARE_FEED_TOKEN"), "feed token: auditor or back-office (SELFCARE_FEED_TOKEN)")
	fs.StringVar(&c.DatabaseURL, "database", os.Getenv("CONSUMER_DATABASE_URL"), "this consumer's PostgreSQL (CONSUMER_DATABASE_URL)")
	fs.StringVar(&c.Name, "name", envOr("CONSUMER_NAME", "billing"), "consumer name: its checkpoint and totals (CONSUMER_NAME)")
	fs.DurationVar(&c.Wait, "wait", 30*time.Second, "how long each feed request waits for new events (at most 60s)")
	fs.IntVar(&c.Limit, "limit", 500, "events per page (1 to 1000)")
	fs.StringVar(&c.NATS, "nats", os.Getenv("CONSUMER_NATS_URL"), "follow the stream on NATS JetStream at this URL instead of the feed (CONSUMER_NATS_URL)")
	fs.StringVar(&c.Subject, "subject", natsfwd.SubjectPrefix+".>", "with -nats: the subjects to follow, e.g. selfcare.events.OCB0000124.> or selfcare.events.*.InvoiceIssued")
	fs.StringVar(&c.Durable, "durable", "", "with -nats: the durable JetStream consumer (default billing-<name>)")
	fs.DurationVar(&c.AckWait, "ack-wait", 30*time.Second, "with -nats: how long JetStream waits for an ack before it delivers a message again")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.Durable == "" {
		c.Durable = durableName(c.Name)
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %v", fs.Args())
	case c.NATS != "" && !strings.HasPrefix(c.Subject, natsfwd.SubjectPrefix+"."):
		return c, fmt.Errorf("-subject must start with %s.", natsfwd.SubjectPrefix)
	case c.NATS != "" && !regexp.MustCompile(`^[A-Za-z0-9_-]+$`).MatchString(c.Durable):
		return c, errors.New("-durable is letters, digits, _ and - only")
	case c.NATS != "" && c.AckWait < time.Second:
		return c, errors.New("-ack-wait is at least 1s")
	case c.Token == "" && c.NATS == "":
		return c, errors.New("no feed token: set SELFCARE_FEED_TOKEN")
	case c.DatabaseURL == "":
		return c, errors.New("no database: set CONSUMER_DATABASE_URL")
	case c.Wait < 0 || c.Wait > 60*time.Second:
		return c, errors.New("-wait is from 0 to 60s")
	case c.Limit < 1 || c.Limit > 1000:
		return c, errors.New("-limit is from 1 to 1000")
	case c.Name == "":
		return c, errors.New("-name is empty")
	}
	return c, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "billing-consumer:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	follow := run
	if cfg.NATS != "" {
		follow = runNATS
	}
	if err := follow(ctx, cfg, os.Stdout, logger); err != nil {
		logger.Error("billing-consumer stopped", "err", err)
		os.Exit(1)
	}
}

// run follows the feed until ctx ends (nil) or a permanent error.
func run(ctx context.Context, cfg config, out io.Writer, logger *slog.Logger) error {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("consumer database: %w", err)
	}
	defer pool.Close()
	l := &ledger{pool: pool, consumer: cfg.Name}
	after, err := l.init(ctx, cfg.URL)
	if err != nil {
		return fmt.Errorf("consumer database: %w", err)
	}
	f := newFeed(cfg.URL, cfg.Token, followedTypes(), cfg.Limit, cfg.Wait)
	logger.Info("following the event feed", "url", cfg.URL, "consumer", cfg.Name, "after", after)
	backoff := retryBackoff{}
	for ctx.Err() == nil {
		p, err := f.read(ctx, after)
		if err != nil {
			var perm permanentError
			if errors.As(err, &perm) {
				return err
			}
			if ctx.Err() == nil {
				logger.Warn("reading the feed; retrying", "err", err, "retry_in", backoff.next())
				backoff.wait(ctx)
			}
			continue
		}
		if *p.NextAfter == after {
			backoff.reset()
			continue // nothing new: the long poll ended empty
		}
		summaries, err := l.apply(ctx, after, p)
		switch {
		case errors.Is(err, errCheckpointMoved):
			logger.Warn("another consumer named " + cfg.Name + " moved the checkpoint: dropping this page and resuming from it")
			if after, err = l.init(ctx, cfg.URL); err != nil && ctx.Err() == nil {
				return err
			}
			continue
		case err != nil && ctx.Err() != nil:
			return nil // stopped mid-page: rolled back, resumes there
		case errors.As(err, new(dataError)):
			// An event this program cannot read: stop rather than skip it.
			return err
		case err != nil:
			logger.Warn("recording a page; retrying", "err", err, "retry_in", backoff.next())
			backoff.wait(ctx)
			continue
		}
		backoff.reset()
		after = *p.NextAfter
		for _, s := range summaries {
			fmt.Fprintln(out, s)
		}
	}
	return nil
}

// retryBackoff doubles from 100 ms to 10 s.
type retryBackoff struct{ d time.Duration }

func (b *retryBackoff) next() time.Duration {
	if b.d == 0 {
		b.d = 100 * time.Millisecond
	}
	return b.d
}

func (b *retryBackoff) wait(ctx context.Context) {
	t := time.NewTimer(b.next())
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	b.d = min(b.d*2, 10*time.Second)
}

func (b *retryBackoff) reset() { b.d = 0 }
