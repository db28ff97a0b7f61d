package audit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
)

// walkLog calls step for every event of the log in position order with its
// stored link (nil if none), until step returns true (done). A goroutine
// reads the rows in PostgreSQL's binary format, without a Scan per column,
// into batches whose bytes share one buffer; step runs here, on the batch
// before, so reading and hashing overlap on two cores.
func walkLog(ctx context.Context, tx pgx.Tx, step func(ev storedEvent, stored []byte) bool) (done bool, err error) {
	binaryFormats := pgx.QueryResultFormats{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	rows, err := tx.Query(ctx, `
SELECT c.hash, `+storedColumns+`
FROM events e LEFT JOIN rm_audit_chain.chain c ON c.position = e.position
ORDER BY e.position`, binaryFormats)
	if err != nil {
		return false, err
	}
	defer rows.Close()

	const batches = 3
	free, full := make(chan *walkBatch, batches), make(chan *walkBatch, batches)
	for range batches {
		free <- &walkBatch{arena: make([]byte, 0, walkArena)}
	}
	stop := make(chan struct{})
	var readErr error
	go func() {
		defer close(full)
		readErr = readBatches(rows, free, full, stop)
	}()
	for b := range full {
		for i := range b.events {
			if !done && step(b.events[i], b.links[i]) {
				done = true
				close(stop)
			}
		}
		free <- b
	}
	if readErr != nil {
		return false, readErr
	}
	return done, rows.Err()
}

const (
	walkBatchEvents = 1024
	walkArena       = 1 << 20
)

// walkBatch is consecutive events whose byte fields (data, metadata, link)
// are slices of arena.
type walkBatch struct {
	events []storedEvent
	links  [][]byte
	arena  []byte
}

// readBatches fills batches from free with rows and sends them on full,
// until the rows end or stop closes.
func readBatches(rows pgx.Rows, free <-chan *walkBatch, full chan<- *walkBatch, stop <-chan struct{}) error {
	var b *walkBatch
	send := func() bool {
		select {
		case full <- b:
			b = nil
			return true
		case <-stop:
			return false
		}
	}
	for rows.Next() {
		if b == nil {
			select {
			case b = <-free:
			case <-stop:
				return nil
			}
			b.events, b.links, b.arena = b.events[:0], b.links[:0], b.arena[:0]
		}
		raw := rows.RawValues()
		size := 0
		for _, v := range raw {
			size += len(v)
		}
		if len(b.events) > 0 && len(b.arena)+size > cap(b.arena) {
			if !send() {
				return nil
			}
			select {
			case b = <-free:
			case <-stop:
				return nil
			}
			b.events, b.links, b.arena = b.events[:0], b.links[:0], b.arena[:0]
		}
		arena, own := b.arena, len(b.arena)+size <= cap(b.arena)
		if !own {
			arena = make([]byte, 0, size) // a row larger than a batch's buffer
		}
		ev, link, arena, err := decodeRow(raw, arena)
		if err != nil {
			return err
		}
		if own {
			b.arena = arena
		}
		b.events, b.links = append(b.events, ev), append(b.links, link)
		if len(b.events) == walkBatchEvents && !send() {
			return nil
		}
	}
	if b != nil && len(b.events) > 0 {
		send()
	}
	return rows.Err()
}

// postgresEpoch is where PostgreSQL's binary timestamps count from.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// decodeRow reads c.hash and storedColumns in binary format, copying their
// bytes into arena (which has room for them).
func decodeRow(raw [][]byte, arena []byte) (storedEvent, []byte, []byte, error) {
	var ev storedEvent
	if len(raw) != 10 || len(raw[1]) != 8 || len(raw[2]) != 16 || len(raw[4]) != 8 || len(raw[6]) != 4 ||
		len(raw[7]) < 1 || raw[7][0] != 1 || len(raw[8]) < 1 || raw[8][0] != 1 || len(raw[9]) != 8 {
		return ev, nil, arena, errors.New("audit: an events row not in the expected binary format")
	}
	keep := func(v []byte) []byte {
		if v == nil {
			return nil
		}
		start := len(arena)
		arena = append(arena, v...)
		return arena[start:len(arena):len(arena)]
	}
	link := keep(raw[0])
	ev.Position = int64(binary.BigEndian.Uint64(raw[1]))
	copy(ev.EventID[:], raw[2])
	ev.Stream = string(raw[3])
	ev.Version = int64(binary.BigEndian.Uint64(raw[4]))
	ev.Type = string(raw[5])
	ev.SchemaVersion = int32(binary.BigEndian.Uint32(raw[6]))
	ev.Data = keep(raw[7][1:]) // jsonb: a version byte, then the text
	ev.Metadata = keep(raw[8][1:])
	micros := int64(binary.BigEndian.Uint64(raw[9]))
	if micros == math.MaxInt64 || micros == math.MinInt64 {
		return ev, nil, arena, fmt.Errorf("audit: event %d recorded at an infinite time", ev.Position)
	}
	ev.RecordedAt = time.UnixMicro(postgresEpoch + micros).UTC()
	return ev, link, arena, nil
}
