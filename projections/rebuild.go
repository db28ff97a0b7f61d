package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/eventstore"
)

const rebuildBatch = 1000

// Progress is told how far a rebuild got: events applied so far, of about
// total events to apply.
type Progress func(name string, applied, total int64)

// Rebuild rebuilds the named projector's read model (every projector's if
// name is empty) from position 0. It builds into a shadow schema while the
// live read model keeps serving, then, in one transaction holding the
// projector's lock, applies the last events, swaps the shadow in and sets
// the checkpoint: no reader ever sees a half-built view. Read models with
// a Builder are built in one read of the event store between them, the
// rest event by event.
func (r *Runner) Rebuild(ctx context.Context, name string, progress Progress) error {
	var ps []Projector
	for _, p := range r.projectors {
		if name == "" || p.Name == name {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return fmt.Errorf("projections: no projector named %q", name)
	}
	return r.rebuild(ctx, ps, true, progress)
}

// building is a read model being rebuilt.
type building struct {
	p       Projector
	shadow  string
	pos     int64 // events up to here are in the shadow
	applied int64
	total   int64
}

func (b *building) report(progress Progress, n int64) {
	b.applied += n
	if progress != nil {
		progress(b.p.Name, b.applied, max(b.total, b.applied))
	}
}

// rebuild rebuilds ps's read models; without force, only those that are
// not current once their rebuild lock is held (another process may have
// built them meanwhile).
func (r *Runner) rebuild(ctx context.Context, ps []Projector, force bool, progress Progress) (err error) {
	pool := r.store.Pool()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	unlock, err := r.lockRebuild(ctx, names)
	if err != nil {
		return fmt.Errorf("projections: rebuild: %w", err)
	}
	defer unlock()
	var all []*building
	defer func() {
		if err == nil {
			return
		}
		for _, b := range all {
			if b.shadow != "" {
				_, _ = pool.Exec(context.WithoutCancel(ctx), `DROP SCHEMA IF EXISTS `+pgx.Identifier{b.shadow}.Sanitize()+` CASCADE`)
			}
		}
	}()
	for _, p := range ps {
		if !force {
			if ok, cur, err := r.current(ctx, p); err != nil || ok {
				if ok {
					r.advance(p.Name, cur) // another process built it while we waited
					continue
				}
				return fmt.Errorf("projections: rebuild %s: %w", p.Name, err)
			}
		}
		b := &building{p: p}
		all = append(all, b)
		if err := r.startShadow(ctx, b); err != nil {
			return fmt.Errorf("projections: rebuild %s: %w", p.Name, err)
		}
	}
	if err := r.countEvents(ctx, all); err != nil {
		return fmt.Errorf("projections: rebuild: %w", err)
	}
	if err := r.buildInBulk(ctx, all, progress); err != nil {
		return fmt.Errorf("projections: rebuild: %w", err)
	}
	if err := r.analyzeShadows(ctx, all); err != nil {
		return fmt.Errorf("projections: rebuild: %w", err)
	}
	for _, b := range all {
		if err := r.finish(ctx, b, force, progress); err != nil {
			return fmt.Errorf("projections: rebuild %s: %w", b.p.Name, err)
		}
		b.shadow = "" // swapped in, or dropped
	}
	return nil
}

// analyzeShadows gathers the planner's statistics on the shadows' tables
// before they are swapped in. A table filled in bulk has none until
// autovacuum comes round (a minute or more later), and meanwhile the
// planner takes a long-lived contract's thousands of rows for a handful:
// a subscriptions page sorted all 5,300 of a contract's subscriptions
// instead of reading twenty from its index (10 ms instead of 0.3).
func (r *Runner) analyzeShadows(ctx context.Context, all []*building) error {
	var schemas []string
	for _, b := range all {
		schemas = append(schemas, b.shadow)
	}
	rows, err := r.store.Pool().Query(ctx, `SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = ANY($1) ORDER BY 1`, schemas)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		return err
	}
	start := time.Now()
	if _, err := r.store.Pool().Exec(ctx, `ANALYZE `+strings.Join(tables, ", ")); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	r.logger.Info("read models analyzed", "tables", len(tables), "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// startShadow creates b's shadow schema with its read model's tables,
// after dropping those of rebuilds that died.
func (r *Runner) startShadow(ctx context.Context, b *building) error {
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return err
	}
	if err := r.dropAbandonedShadows(ctx, b.p); err != nil {
		return err
	}
	shadow := b.p.SchemaName() + "__rb_" + hex.EncodeToString(suffix)
	pool := r.store.Pool()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{shadow}.Sanitize()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, searchPath(shadow)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, b.p.Schema); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.shadow = shadow
	return nil
}

// countEvents sets each rebuild's total, for its progress: the events of
// its types, counted in one scan of the store for all of them.
func (r *Runner) countEvents(ctx context.Context, all []*building) error {
	rows, err := r.store.Pool().Query(ctx, `SELECT event_type, count(*) FROM events GROUP BY event_type`)
	if err != nil {
		return err
	}
	defer rows.Close()
	counts := map[string]int64{}
	var every int64
	for rows.Next() {
		var typ string
		var n int64
		if err := rows.Scan(&typ, &n); err != nil {
			return err
		}
		counts[typ] = n
		every += n
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, b := range all {
		if len(b.p.Types) == 0 {
			b.total = every
			continue
		}
		for _, typ := range b.p.Types {
			b.total += counts[typ]
		}
	}
	return nil
}

// buildInBulk folds the events up to the store's head into the shadows of
// the read models that have a Builder, in one read of the store.
func (r *Runner) buildInBulk(ctx context.Context, all []*building, progress Progress) error {
	var targets []*bulkTarget
	byTarget := map[*bulkTarget]*building{}
	for _, b := range all {
		if b.p.Bulk == nil {
			continue
		}
		t := &bulkTarget{p: b.p, shadow: b.shadow, builder: b.p.Bulk(), in: make(chan []*Stored, 4)}
		if len(b.p.Types) > 0 {
			t.types = map[string]bool{}
			for _, typ := range b.p.Types {
				t.types[typ] = true
			}
		}
		targets = append(targets, t)
		byTarget[t] = b
	}
	if len(targets) == 0 {
		return nil
	}
	head, err := r.store.Head(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	err = r.bulkPass(ctx, targets, 0, head, func(t *bulkTarget) {
		b := byTarget[t]
		b.report(progress, t.applied-b.applied)
	})
	if err != nil {
		return err
	}
	for _, t := range targets {
		byTarget[t].pos = head
	}
	r.logger.Info("read models built in bulk", "read_models", len(targets), "head", head, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// finish applies the events after b.pos event by event, then, under the
// projector's lock, the last ones, swaps the shadow in and sets the
// checkpoint.
func (r *Runner) finish(ctx context.Context, b *building, force bool, progress Progress) error {
	p, shadow, pool := b.p, b.shadow, r.store.Pool()
	// The rest of the work, in batches, beside the live read model.
	for {
		var n int
		more := false
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, projectionSettings, searchPath(shadow)); err != nil {
				return err
			}
			page, err := r.store.ReadPage(ctx, tx, b.pos, eventstore.ReadOptions{Types: p.Types, Limit: rebuildBatch})
			if err != nil {
				return err
			}
			n, err = r.applyFlushed(ctx, tx, p, page.Records, time.Now().Add(maxBatchDuration))
			if err != nil {
				return err
			}
			more = len(page.Records) == rebuildBatch
			if n < len(page.Records) {
				more, b.pos = true, page.Records[n-1].Position // the rest next time
			} else {
				b.pos = page.Next
			}
			return nil
		})
		if err != nil {
			return err
		}
		b.report(progress, int64(n))
		if !more {
			break
		}
	}
	// The last events and the swap, under the projector's lock.
	swapped := false
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('projection:' || $1, 0))`, p.Name); err != nil {
			return err
		}
		if !force {
			ok, _, err := r.current(ctx, p)
			if err != nil || ok {
				return err // another process built it meanwhile
			}
		}
		if _, err := tx.Exec(ctx, projectionSettings, searchPath(shadow)); err != nil {
			return err
		}
		for {
			page, err := r.store.ReadPage(ctx, tx, b.pos, eventstore.ReadOptions{Types: p.Types, Limit: rebuildBatch})
			if err != nil {
				return err
			}
			b.pos = page.Next
			if _, err := r.applyFlushed(ctx, tx, p, page.Records, time.Time{}); err != nil {
				return err
			}
			b.report(progress, int64(len(page.Records)))
			if len(page.Records) < rebuildBatch {
				break
			}
		}
		live := pgx.Identifier{p.SchemaName()}.Sanitize()
		if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+live+` CASCADE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `ALTER SCHEMA `+pgx.Identifier{shadow}.Sanitize()+` RENAME TO `+live); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
INSERT INTO projection_checkpoints (name, position, version, updated_at) VALUES ($1, $2, $3, now())
ON CONFLICT (name) DO UPDATE SET position = excluded.position, version = excluded.version, updated_at = now()`,
			p.Name, b.pos, p.Version)
		swapped = err == nil
		return err
	})
	if err != nil {
		return err
	}
	if !swapped {
		_, err = pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{shadow}.Sanitize()+` CASCADE`)
		ok, cur, cerr := r.current(ctx, p)
		if cerr == nil && ok {
			r.advance(p.Name, cur)
		}
		return err
	}
	// Never backwards: the tail may have moved the projector past events
	// it does not handle meanwhile.
	r.advance(p.Name, b.pos)
	r.logger.Info("read model built", "projector", p.Name, "events", b.applied)
	return nil
}

// lockRebuild excludes other rebuilds of the named projectors, in this
// process or another, until unlock: session advisory locks on one
// connection kept for the rebuild, taken in name order (so two rebuilds
// of overlapping sets cannot deadlock), which a crash releases with the
// session.
func (r *Runner) lockRebuild(ctx context.Context, names []string) (unlock func(), err error) {
	names = slices.Sorted(slices.Values(names))
	conn, err := r.store.Pool().Acquire(ctx)
	if err != nil {
		return nil, err
	}
	const key = `hashtextextended('projection-rebuild:' || $1, 0)`
	release := func(locked []string) {
		for _, name := range locked {
			if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`, name); err != nil {
				// Closing the session releases the locks.
				_ = conn.Hijack().Close(context.WithoutCancel(ctx))
				return
			}
		}
		conn.Release()
	}
	for i, name := range names {
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`, name); err != nil {
			release(names[:i])
			return nil, err
		}
	}
	return func() { release(names) }, nil
}

// dropAbandonedShadows drops the shadow schemas of p's rebuilds that
// died before their end (a killed process runs no cleanup). It runs under
// the rebuild lock, so no live rebuild owns them.
func (r *Runner) dropAbandonedShadows(ctx context.Context, p Projector) error {
	rows, err := r.store.Pool().Query(ctx,
		`SELECT nspname FROM pg_namespace WHERE nspname ~ ('^' || $1 || '__rb_[0-9a-f]{8}$')`, p.SchemaName())
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range names {
		if slices.ContainsFunc(r.projectors, func(q Projector) bool { return q.SchemaName() == name }) {
			continue // a projector's own schema, however odd its name
		}
		r.logger.Info("dropping the shadow schema of an interrupted rebuild", "projector", p.Name, "schema", name)
		if _, err := r.store.Pool().Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			return err
		}
	}
	return nil
}
