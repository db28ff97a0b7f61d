package commands

import (
	"context"
	"sync/atomic"
)

// Positions collects the position of the last event the commands of one
// request appended. A caller that attaches one to the context
// (WithPositions) takes read-your-writes over from the command: Execute
// then answers as soon as its transaction commits, without waiting for the
// read models, and the caller hands the position to its client, whose next
// read waits for the read model it queries to reach it (the HTTP layer's
// X-Selfcare-Position and X-Selfcare-Min-Position headers).
type Positions struct {
	last atomic.Int64
}

// Last is the highest position recorded (0: nothing appended).
func (p *Positions) Last() int64 { return p.last.Load() }

func (p *Positions) record(pos int64) {
	for {
		cur := p.last.Load()
		if pos <= cur || p.last.CompareAndSwap(cur, pos) {
			return
		}
	}
}

type positionsKey struct{}

// WithPositions attaches p to ctx (see Positions).
func WithPositions(ctx context.Context, p *Positions) context.Context {
	return context.WithValue(ctx, positionsKey{}, p)
}

func positionsFrom(ctx context.Context) *Positions {
	p, _ := ctx.Value(positionsKey{}).(*Positions)
	return p
}
