package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
)

// lockPollInterval is how often a waiting Lock retries.
const lockPollInterval = 200 * time.Millisecond

// lockKey is the advisory lock key of the log type named by the SQL
// expression lt, scoped to the schema the tables are in so that separate
// schemas (test schemas, say) do not contend.
func lockKey(lt string) string {
	return `hashtextextended('masora:' || current_schema() || ':' || ` + lt + `, 0)`
}

// chunkKey is the key of the transaction advisory lock a chunk holds while
// it loads and a run takes when it starts: a run starting after another lost
// its lock waits for that run's chunk in flight to end, so that two runs of
// a log type never load at once.
func chunkKey(lt string) string {
	return `hashtextextended('masora-chunk:' || current_schema() || ':' || ` + lt + `, 0)`
}

// ErrLockLost marks a run that no longer holds its log type's run lock: the
// Postgres session holding it ended (Postgres restarted, the connection
// broke, the session was terminated) and the run could not take the lock
// again because another run holds it or started since. The run stops before
// its next chunk; what it committed stays, and the next run loads the rest.
// Such errors also wrap fault.ErrBusy.
var ErrLockLost = errors.New("the run lost its log type's run lock")

// Lock is a set of run locks held by one run: Postgres session advisory
// locks, one per log type, each on a connection kept out of the pool until
// Unlock. Every instance of Masora using the same database and schema sees
// the same locks, so only one run per log type loads at a time. If a
// session ends, Postgres drops its locks; each chunk checks that its run's
// lock is still held (RecordObjects), and Relock takes it again on a new
// session when that is safe. The zero Lock holds nothing. A Lock is used
// by one run at a time.
type Lock struct {
	held map[string]*session // by log type
}

// session is a Postgres session holding run locks.
type session struct {
	conn *pgxpool.Conn
	// pid and started are the session's pg_stat_activity pid and
	// backend_start: together they name it even after pids are reused.
	pid     int32
	started time.Time
	locks   int // the log types it holds
}

// Lock takes the run locks of the given log types, all or none. When
// another run holds one of them, Lock retries until wait has passed, then
// returns an error wrapping fault.ErrBusy. Give the locks back with Unlock.
func (l *Ledger) Lock(ctx context.Context, logTypes []string, wait time.Duration) (*Lock, error) {
	s, err := l.newSession(ctx)
	if err != nil {
		return nil, pgfault.Classify("acquire a connection for the run lock", err)
	}
	lk := &Lock{held: make(map[string]*session)}
	if err := s.lockAll(ctx, lk, logTypes, wait); err != nil {
		l.Unlock(ctx, lk)
		if errors.Is(err, fault.ErrBusy) {
			s.release(ctx, nil) // the connection is fine
		} else {
			s.release(ctx, err)
		}
		return nil, err
	}
	s.release(ctx, nil)
	return lk, nil
}

// lockAll takes the run locks of logTypes on the session, in lk.
func (s *session) lockAll(ctx context.Context, lk *Lock, logTypes []string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for _, lt := range slices.Sorted(slices.Values(logTypes)) {
		for {
			ok, err := s.tryLock(ctx, lt)
			if err != nil {
				return pgfault.Classify("take the run lock of "+lt, err)
			}
			if ok {
				lk.held[lt] = s
				s.locks++
				break
			}
			if !time.Now().Before(deadline) {
				return fmt.Errorf("lock %s: %w", lt, fault.ErrBusy)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("wait for the run lock of %s: %w", lt, ctx.Err())
			case <-time.After(lockPollInterval):
			}
		}
	}
	return nil
}

// newSession takes a connection out of the pool and reads its identity.
func (l *Ledger) newSession(ctx context.Context) (*session, error) {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	s := &session{conn: conn}
	err = conn.QueryRow(ctx, `SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()`).Scan(&s.pid, &s.started)
	if err != nil {
		conn.Conn().Close(ctx)
		conn.Release()
		return nil, err
	}
	return s, nil
}

// tryLock takes the run lock of lt on the session if it is free.
func (s *session) tryLock(ctx context.Context, lt string) (bool, error) {
	var ok bool
	err := s.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey("$1")+`)`, lt).Scan(&ok)
	return ok, err
}

// unlock gives back the run lock of lt, and the connection with the last
// lock the session holds. If that fails the connection is closed, which
// releases the locks too.
func (s *session) unlock(ctx context.Context, lt string) {
	if s.conn == nil {
		return
	}
	if _, err := s.conn.Exec(ctx, `SELECT pg_advisory_unlock(`+lockKey("$1")+`)`, lt); err != nil {
		s.close(ctx)
		return
	}
	if s.locks--; s.locks <= 0 {
		s.conn.Release()
		s.conn = nil
	}
}

// close closes the session's connection, which releases all its locks.
func (s *session) close(ctx context.Context) {
	if s.conn == nil {
		return
	}
	s.conn.Conn().Close(ctx)
	s.conn.Release()
	s.conn = nil
}

// release gives the connection of a session that holds no lock back to the
// pool, or closes it after err, which may have broken it.
func (s *session) release(ctx context.Context, err error) {
	switch {
	case s.conn == nil || s.locks > 0:
	case err != nil:
		s.close(ctx)
	default:
		s.conn.Release()
		s.conn = nil
	}
}

// Unlock gives back every run lock of lk. It has its own deadline, so that
// a cancelled run still releases its locks.
func (l *Ledger) Unlock(ctx context.Context, lk *Lock) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for lt, s := range lk.held {
		s.unlock(ctx, lt)
		delete(lk.held, lt)
	}
}

// owner returns the session holding the run lock of logType in lk, or nil
// when lk is nil.
func (lk *Lock) owner(logType string) (*session, error) {
	if lk == nil {
		return nil, nil
	}
	s, ok := lk.held[logType]
	if !ok {
		return nil, fmt.Errorf("start a run of %s without holding its run lock (a bug)", logType)
	}
	return s, nil
}

// Relock takes the run lock of a run's log type again after the run lost
// it (an error wrapping ErrLockLost from CheckLock or a chunk), on a new
// session, and records that session as the run's owner. That is safe only
// when the lock is free and no other run of the log type has started since
// this one (another run may have loaded what this one listed): otherwise
// Relock returns an error wrapping ErrLockLost and fault.ErrBusy, and the run
// must stop. Postgres being unreachable is an error wrapping
// fault.ErrUnavailable; the caller may retry.
func (l *Ledger) Relock(ctx context.Context, lk *Lock, runID int64, logType string) error {
	old, ok := lk.held[logType]
	if !ok {
		return fmt.Errorf("relock %s for run %d: the run never held its run lock (a bug)", logType, runID)
	}
	if old.conn != nil && old.conn.Ping(ctx) != nil {
		old.close(ctx) // its session ended: free its slot in the pool
	}
	s, err := l.newSession(ctx)
	if err != nil {
		return pgfault.Classify(fmt.Sprintf("take the run lock of %s again for run %d", logType, runID), err)
	}
	got, err := s.tryLock(ctx, logType)
	if err != nil {
		s.close(ctx)
		return pgfault.Classify(fmt.Sprintf("take the run lock of %s again for run %d", logType, runID), err)
	}
	if !got {
		s.close(ctx)
		return fmt.Errorf("run %d of %s: %w and another run holds it now: %w", runID, logType, ErrLockLost, fault.ErrBusy)
	}
	var (
		others  []int64
		running bool
	)
	err = pgx.BeginFunc(ctx, s.conn, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(run_id ORDER BY run_id), '{}') FROM masora_runs WHERE log_type = $1 AND run_id > $2`,
			logType, runID).Scan(&others); err != nil || len(others) > 0 {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE masora_runs SET lock_pid = $2, lock_backend_start = $3 WHERE run_id = $1 AND status = 'running'`,
			runID, s.pid, s.started)
		running = tag.RowsAffected() == 1
		return err
	})
	switch {
	case err != nil:
		s.close(ctx)
		return pgfault.Classify(fmt.Sprintf("record run %d's new lock session", runID), err)
	case len(others) > 0:
		s.close(ctx)
		return fmt.Errorf("run %d of %s: %w and runs %v of the log type started since: %w", runID, logType, ErrLockLost, others, fault.ErrBusy)
	case !running:
		s.close(ctx)
		return fmt.Errorf("run %d of %s: %w and the run is no longer running (marked abandoned by another run?): %w", runID, logType, ErrLockLost, fault.ErrBusy)
	}
	// The old session is gone: closing its connection frees its pool slot.
	if old.locks--; old.locks <= 0 {
		old.close(ctx)
	}
	s.locks = 1
	lk.held[logType] = s
	return nil
}

// ownsLock is the check that a run still owns its log type's run lock: the
// session recorded as its owner holds the advisory lock, and the run is
// still running. It is one SQL expression over the run's row r, so that a
// chunk's transaction can make it (RecordObjects) as well as CheckLock.
const ownsLock = `r.lock_pid IS NULL OR EXISTS (
	SELECT 1 FROM pg_locks k JOIN pg_stat_activity a ON a.pid = k.pid
	WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 1
	  AND k.pid = r.lock_pid AND a.backend_start = r.lock_backend_start
	  AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	  AND k.classid = ((rk.k >> 32) & 4294967295)::oid AND k.objid = (rk.k & 4294967295)::oid)`

// checkOwner checks, through q (a chunk's transaction or the pool), that a
// run still owns its log type's run lock and is running. It returns an
// error wrapping ErrLockLost and fault.ErrBusy when it does not.
func checkOwner(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, runID int64) error {
	var (
		status, logType string
		pid             *int32
		owns            bool
	)
	err := q.QueryRow(ctx, `
		SELECT r.status, r.log_type, r.lock_pid, `+ownsLock+`
		FROM masora_runs r, LATERAL (SELECT `+lockKey("r.log_type")+` AS k) rk
		WHERE r.run_id = $1`, runID).Scan(&status, &logType, &pid, &owns)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("check the run lock of run %d: no such run (a bug)", runID)
	case err != nil:
		return pgfault.Classify(fmt.Sprintf("check the run lock of run %d", runID), err)
	case status != StatusRunning:
		return fmt.Errorf("run %d of %s: %w: the run is %s (marked by another run whose process had not heard from this one for %s): %w",
			runID, logType, ErrLockLost, status, Lease, fault.ErrBusy)
	case !owns:
		return fmt.Errorf("run %d of %s: %w: the Postgres session holding it (backend pid %d) ended or released it (Postgres restarted, the connection broke or the session was terminated): %w",
			runID, logType, ErrLockLost, *pid, fault.ErrBusy)
	}
	return nil
}

// CheckLock checks that a run still owns its log type's run lock and is
// running, before the run spends a chunk's work; an error wrapping
// ErrLockLost says it does not (then Relock, or stop). The chunk's own
// transaction checks again (RecordObjects), which is the check that counts.
func (l *Ledger) CheckLock(ctx context.Context, runID int64) error {
	return checkOwner(ctx, l.pool, runID)
}
