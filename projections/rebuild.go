package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
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
// the checkpoint: no reader ever sees a half-built view.
func (r *Runner) Rebuild(ctx context.Context, name string, progress Progress) error {
	found := false
	for _, p := range r.projectors {
		if name != "" && p.Name != name {
			continue
		}
		found = true
		if err := r.rebuild(ctx, p, true, progress); err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("projections: no projector named %q", name)
	}
	return nil
}

func (r *Runner) rebuild(ctx context.Context, p Projector, force bool, progress Progress) (err error) {
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return err
	}
	shadow := p.SchemaName() + "__rb_" + hex.EncodeToString(suffix)
	pool := r.store.Pool()
	defer func() {
		if err != nil {
			_, _ = pool.Exec(context.WithoutCancel(ctx), `DROP SCHEMA IF EXISTS `+pgx.Identifier{shadow}.Sanitize()+` CASCADE`)
			err = fmt.Errorf("projections: rebuild %s: %w", p.Name, err)
		}
	}()
	unlock, err := r.lockRebuild(ctx, p)
	if err != nil {
		return err
	}
	defer unlock()
	if !force {
		if ok, cur, err := r.current(ctx, p); err != nil || ok {
			if ok {
				r.advance(p.Name, cur) // another process built it while we waited
			}
			return err
		}
	}
	if err := r.dropAbandonedShadows(ctx, p); err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{shadow}.Sanitize()); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, pgx.Identifier{shadow}.Sanitize()+", public"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, p.Schema); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var total int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE $1::text[] IS NULL OR event_type = ANY($1)`, nilIfEmpty(p.Types)).Scan(&total); err != nil {
		return err
	}
	var pos, applied int64
	report := func(n int) {
		applied += int64(n)
		if progress != nil {
			progress(p.Name, applied, max(total, applied))
		}
	}
	// Bulk of the work, in batches, beside the live read model.
	for {
		var n int
		more := false
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, projectionSettings, searchPath(shadow)); err != nil {
				return err
			}
			page, err := r.store.ReadPage(ctx, tx, pos, eventstore.ReadOptions{Types: p.Types, Limit: rebuildBatch})
			if err != nil {
				return err
			}
			n, err = r.applyFlushed(ctx, tx, p, page.Records, time.Now().Add(maxBatchDuration))
			if err != nil {
				return err
			}
			more = len(page.Records) == rebuildBatch
			if n < len(page.Records) {
				more, pos = true, page.Records[n-1].Position // the rest next time
			} else {
				pos = page.Next
			}
			return nil
		})
		if err != nil {
			return err
		}
		report(n)
		if !more {
			break
		}
	}
	// The last events and the swap, under the projector's lock.
	swapped := false
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
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
			page, err := r.store.ReadPage(ctx, tx, pos, eventstore.ReadOptions{Types: p.Types, Limit: rebuildBatch})
			if err != nil {
				return err
			}
			pos = page.Next
			if _, err := r.applyFlushed(ctx, tx, p, page.Records, time.Time{}); err != nil {
				return err
			}
			report(len(page.Records))
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
			p.Name, pos, p.Version)
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
	r.advance(p.Name, pos)
	r.logger.Info("read model built", "projector", p.Name, "events", applied)
	return nil
}

// lockRebuild excludes other rebuilds of p, in this process or another,
// until unlock: a session advisory lock on a connection kept for the
// rebuild, which a crash releases with the session.
func (r *Runner) lockRebuild(ctx context.Context, p Projector) (unlock func(), err error) {
	conn, err := r.store.Pool().Acquire(ctx)
	if err != nil {
		return nil, err
	}
	const key = `hashtextextended('projection-rebuild:' || $1, 0)`
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+key+`)`, p.Name); err != nil {
		conn.Release()
		return nil, err
	}
	return func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+key+`)`, p.Name); err != nil {
			// Closing the session releases the lock.
			_ = conn.Hijack().Close(context.WithoutCancel(ctx))
			return
		}
		conn.Release()
	}, nil
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
