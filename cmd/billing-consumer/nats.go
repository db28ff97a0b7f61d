package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"

	"selfcare/internal/natsfwd"
)

// runNATS follows selfcare's events on NATS JetStream (the stream that
// selfcare serve forwards to with SELFCARE_NATS_URL) through a durable
// consumer, until ctx ends (nil) or a permanent error.
//
// Exactly once: the consumer lets one message at a time be unacknowledged
// (MaxAckPending 1), so events come in stream (position) order, redelivered
// ones included. Each is recorded with the checkpoint moved to its position
// in one transaction, and acknowledged only after the commit; one at or
// below the checkpoint (redelivered because its ack was lost, or
// republished) is acknowledged without being counted again.
func runNATS(ctx context.Context, cfg config, out io.Writer, logger *slog.Logger) error {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("consumer database: %w", err)
	}
	defer pool.Close()
	l := &ledger{pool: pool, consumer: cfg.Name}
	after, err := l.init(ctx, cfg.NATS)
	if err != nil {
		return fmt.Errorf("consumer database: %w", err)
	}
	logger.Info("following the event stream on NATS JetStream", "url", cfg.NATS, "subject", cfg.Subject,
		"durable", cfg.Durable, "consumer", cfg.Name, "after", after)
	backoff := retryBackoff{}
	for ctx.Err() == nil {
		err := consumeNATS(ctx, cfg, l, out, logger, &backoff)
		var perm permanentError
		switch {
		case ctx.Err() != nil:
		case errors.As(err, &perm), errors.As(err, new(dataError)):
			return err
		case err != nil:
			logger.Warn("following NATS; retrying", "err", err, "retry_in", backoff.next())
			backoff.wait(ctx)
		}
	}
	return nil
}

// consumeNATS subscribes and handles messages until ctx ends or an error.
func consumeNATS(ctx context.Context, cfg config, l *ledger, out io.Writer, logger *slog.Logger, backoff *retryBackoff) error {
	nc, err := nats.Connect(cfg.NATS, nats.Name("billing-consumer "+cfg.Name), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	// The consumer may start before any selfcare forwarded anything.
	if err := natsfwd.EnsureStream(ctx, nc); err != nil {
		nc.Close()
		return err
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	sub, err := wnats.NewSubscriberWithNatsConn(nc, wnats.SubscriberSubscriptionConfig{
		Unmarshaler:    &wnats.NATSMarshaler{},
		AckWaitTimeout: cfg.AckWait,
		CloseTimeout:   5 * time.Second,
		NakDelay:       wnats.NewStaticDelay(500 * time.Millisecond),
		JetStream: wnats.JetStreamConfig{
			DurablePrefix: cfg.Durable,
			SubscribeOptions: []nats.SubOpt{
				nats.BindStream(natsfwd.Stream),
				nats.DeliverAll(),
				nats.ManualAck(),
				nats.AckExplicit(),
				nats.MaxAckPending(1),
				nats.AckWait(cfg.AckWait),
			},
		},
	}, wlog)
	if err != nil {
		nc.Close()
		return err
	}
	defer sub.Close() // drains and closes nc
	// The subscription outlives ctx until the loop below is done with its
	// message, so that a message being recorded is still acknowledged.
	subCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	msgs, err := sub.Subscribe(subCtx, cfg.Subject)
	if err != nil {
		if strings.Contains(err.Error(), "configuration requests") {
			return permanentError{fmt.Errorf("durable consumer %s exists with another configuration (delete it, or choose another -durable): %w", cfg.Durable, err)}
		}
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-msgs:
			if !ok {
				return errors.New("the subscription ended")
			}
			if err := handleNATS(ctx, l, msg, out); err != nil {
				msg.Nack() // delivered again, after NakDelay
				if ctx.Err() != nil || errors.As(err, new(dataError)) {
					return err
				}
				logger.Warn("recording an event; it will be delivered again", "event_id", msg.UUID, "err", err)
				continue
			}
			backoff.reset()
			msg.Ack() // after the commit
		}
	}
}

// handleNATS records one message's event, if billing counts it.
func handleNATS(ctx context.Context, l *ledger, msg *message.Message, out io.Writer) error {
	var e event
	if err := json.Unmarshal(msg.Payload, &e); err != nil {
		return dataError{fmt.Errorf("message %s is not an event of the feed: %w", msg.UUID, err)}
	}
	if _, counted := counted[e.Type]; !counted {
		return nil // nothing to record: acknowledged as it is
	}
	// A stop (SIGTERM) lets the event being recorded commit, then ack.
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s, applied, err := l.applyEvent(tctx, e)
	if err != nil {
		return err
	}
	if applied {
		fmt.Fprintln(out, s)
	}
	return nil
}

// durableName makes a JetStream durable name of a consumer name.
func durableName(consumer string) string {
	return "billing-" + regexp.MustCompile(`[^A-Za-z0-9_-]`).ReplaceAllString(consumer, "_")
}
