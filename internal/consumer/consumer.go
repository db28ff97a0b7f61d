// Package consumer runs a message-bus consumer group of the server itself
// (reactions, notifier): every event once, in commit order, resumed from
// the group's offset after a restart.
package consumer

import (
	"context"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"selfcare/eventstore"
)

// Handler handles one event. Returning nil acknowledges it, in the same
// transaction as whatever the handler wrote through eventstore.BusTx(ctx);
// an error has it delivered again after a pause (a handler that cannot
// ever succeed on an event must log it and return nil, or it blocks the
// group).
type Handler func(ctx context.Context, rec eventstore.Record) error

// Run consumes eventstore.TopicAll as group until ctx ends.
func Run(ctx context.Context, store *eventstore.Store, group string, logger *slog.Logger, handle Handler) {
	logger = logger.With("consumer", group)
	for ctx.Err() == nil {
		if err := run(ctx, store, group, logger, handle); err != nil && ctx.Err() == nil {
			logger.Error("bus consumer stopped; restarting", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func run(ctx context.Context, store *eventstore.Store, group string, logger *slog.Logger, handle Handler) error {
	wlog := watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	sub, err := store.NewSubscriber(group, wlog)
	if err != nil {
		return err
	}
	// The subscriber stops with Close, after the loop below has finished
	// with its message: cancelling its context instead would have it
	// commit the message's transaction while a handler still uses it.
	defer sub.Close()
	msgs, err := sub.Subscribe(context.WithoutCancel(ctx), eventstore.TopicAll)
	if err != nil {
		return err
	}
	retry := 50 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-msgs:
			if !ok {
				return nil
			}
			// The handler's context carries the message's transaction and
			// ends with ctx too, so a shutdown does not wait for it.
			rec, err := eventstore.RecordFromMessage(msg)
			if err != nil {
				logger.Error("unreadable bus message; skipped", "event_id", msg.UUID, "err", err)
				msg.Ack()
				continue
			}
			hctx, cancel := context.WithCancel(msg.Context())
			stop := context.AfterFunc(ctx, cancel)
			err = handle(hctx, rec)
			stop()
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					msg.Nack()
					return nil
				}
				logger.Warn("event handling failed; it will be delivered again", "event_id", msg.UUID,
					"type", msg.Metadata.Get(eventstore.MetaType), "err", err, "retry_in", retry)
				select {
				case <-ctx.Done():
				case <-time.After(retry):
				}
				retry = min(retry*2, 5*time.Second)
				msg.Nack()
				continue
			}
			retry = 50 * time.Millisecond
			msg.Ack()
		}
	}
}
