package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"selfcare/commands"
)

// The position contract, which replaces waiting for every read model at
// every write: a response to a request that appended events carries the
// position of the last one in X-Selfcare-Position; a client that sends
// the highest position it was given back in X-Selfcare-Min-Position has
// its request wait (bounded) until the read models reach it, so it reads
// its own writes. A write therefore costs its transaction only, and a
// read waits only when the read models have not yet caught up with what
// this client wrote, which is rarely by the time its next request comes.
const (
	HeaderPosition    = "X-Selfcare-Position"
	HeaderMinPosition = "X-Selfcare-Min-Position"
)

// ReadModels is the read side's promise to catch up with a position.
type ReadModels interface {
	// WaitFor waits for every read model a request may read.
	WaitFor(ctx context.Context, position int64) error
	// WaitForModel waits for one read model (projections' names).
	WaitForModel(ctx context.Context, name string, position int64) error
}

type ownWritesKey struct{}

// ownWrites is what a write handler needs to read its own writes.
type ownWrites struct {
	models    ReadModels
	positions *commands.Positions
}

// readOwnWrites waits (bounded) until read model `model` shows what the
// commands of this request appended: for a write that answers with the
// resource as that read model shows it. Other writes answer at once.
func readOwnWrites(r *http.Request, model string) {
	o, ok := r.Context().Value(ownWritesKey{}).(ownWrites)
	if !ok || o.models == nil {
		return
	}
	pos := o.positions.Last()
	if pos == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), minPositionWait)
	defer cancel()
	if err := o.models.WaitForModel(ctx, model, pos); err != nil && r.Context().Err() == nil {
		loggerFrom(r.Context()).Warn("read model did not show the request's own write in time", "read_model", model, "position", pos, "err", err)
	}
}

// minPositionWait bounds how long a request waits for the read models to
// reach the position its client asked for; it is then served as they are
// (and the delay logged), as a write used to be answered.
const minPositionWait = 10 * time.Second

// withPositions implements the position contract around every request.
func withPositions(models ReadModels) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v := r.Header.Get(HeaderMinPosition); v != "" && models != nil {
				// A malformed value is ignored: it can only ask for less.
				if pos, err := strconv.ParseInt(v, 10, 64); err == nil && pos > 0 {
					ctx, cancel := context.WithTimeout(r.Context(), minPositionWait)
					if err := models.WaitFor(ctx, pos); err != nil && r.Context().Err() == nil {
						loggerFrom(r.Context()).Warn("read models did not reach the client's position in time", "position", pos, "err", err)
					}
					cancel()
				}
			}
			positions := &commands.Positions{}
			pw := &positionWriter{ResponseWriter: w, positions: positions}
			ctx := commands.WithPositions(r.Context(), positions)
			ctx = context.WithValue(ctx, ownWritesKey{}, ownWrites{models: models, positions: positions})
			next.ServeHTTP(pw, r.WithContext(ctx))
		})
	}
}

// positionWriter adds X-Selfcare-Position to the response of a request
// whose commands appended events (they ran before the answer is written).
type positionWriter struct {
	http.ResponseWriter
	positions *commands.Positions
	written   bool
}

func (p *positionWriter) header() {
	if p.written {
		return
	}
	p.written = true
	if pos := p.positions.Last(); pos > 0 {
		p.ResponseWriter.Header().Set(HeaderPosition, strconv.FormatInt(pos, 10))
	}
}

func (p *positionWriter) WriteHeader(code int) {
	p.header()
	p.ResponseWriter.WriteHeader(code)
}

func (p *positionWriter) Write(b []byte) (int, error) {
	p.header()
	return p.ResponseWriter.Write(b)
}

func (p *positionWriter) Flush() {
	p.header()
	if f, ok := p.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (p *positionWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
