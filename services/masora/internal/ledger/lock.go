package ledger

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
)

// lockPollInterval is how often a waiting Lock retries.
const lockPollInterval = 200 * time.Millisecond

// lockKey is the advisory lock key of a log type, scoped to the schema the
// tables are in so that separate schemas (test schemas, say) do not contend.
const lockKey = `hashtextextended('masora:' || current_schema() || ':' || $1, 0)`

// Lock takes the run locks of the given log types, all or none, and returns
// the function that releases them. The locks are Postgres session advisory
// locks, one per log type, on a connection kept out of the pool until the
// release. Every instance of Masora using the same database and schema sees
// the same locks, so only one run per log type loads at a time. If the
// connection dies, Postgres drops the locks; the manifest's key then still
// keeps two loaders from committing the same object twice.
//
// When another run holds one of the locks, Lock retries until wait has
// passed, then returns an error wrapping fault.ErrBusy.
func (l *Ledger) Lock(ctx context.Context, logTypes []string, wait time.Duration) (func(context.Context), error) {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, pgfault.Classify("acquire a connection for the run lock", err)
	}
	lk := &lock{conn: conn}
	deadline := time.Now().Add(wait)
	for _, lt := range slices.Sorted(slices.Values(logTypes)) {
		for {
			var ok bool
			if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey+`)`, lt).Scan(&ok); err != nil {
				lk.release(ctx)
				return nil, pgfault.Classify("take the run lock of "+lt, err)
			}
			if ok {
				lk.logTypes = append(lk.logTypes, lt)
				break
			}
			if !time.Now().Before(deadline) {
				lk.release(ctx)
				return nil, fmt.Errorf("lock %s: %w", lt, fault.ErrBusy)
			}
			select {
			case <-ctx.Done():
				lk.release(ctx)
				return nil, fmt.Errorf("wait for the run lock of %s: %w", lt, ctx.Err())
			case <-time.After(lockPollInterval):
			}
		}
	}
	return lk.release, nil
}

// lock is a held run lock.
type lock struct {
	conn     *pgxpool.Conn
	logTypes []string
}

// release gives the locks back. If that fails the connection is closed,
// which releases them too.
func (lk *lock) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, lt := range lk.logTypes {
		if _, err := lk.conn.Exec(ctx, `SELECT pg_advisory_unlock(`+lockKey+`)`, lt); err != nil {
			lk.conn.Conn().Close(ctx)
			break
		}
	}
	lk.logTypes = nil
	lk.conn.Release()
}
