package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
)

// Run statuses, as stored in masora_runs.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusAbandoned = "abandoned"
)

// Run is one log type in one run: the run's outcome as a run answers it and
// its row of the run history, with one JSON shape for both (POST /run and
// /backfill, GET /runs and /runs/{id}, `masora run` and `masora status
// -json`).
type Run struct {
	// ID is the run's id in the history; 0 when the run failed before it
	// could be recorded.
	ID            int64      `json:"run_id"`
	LogType       string     `json:"log_type"`
	Trigger       string     `json:"trigger"`
	WindowFrom    time.Time  `json:"window_from"`
	WindowTo      time.Time  `json:"window_to"`
	Status        string     `json:"status"`
	StartedAt     time.Time  `json:"started_at"`
	FinishedAt    *time.Time `json:"finished_at,omitempty"`
	ObjectsListed int        `json:"objects_listed"`
	ObjectsNew    int        `json:"objects_new"`
	ObjectsLoaded int        `json:"objects_loaded"`
	ObjectsFailed int        `json:"objects_failed"`
	ChunksLoaded  int        `json:"chunks_loaded"`
	RowsLoaded    int64      `json:"rows_loaded"`
	// DuplicatesSkipped counts result rows whose event_id an earlier chunk
	// had loaded.
	DuplicatesSkipped int64 `json:"duplicates_skipped"`
	// FailedObjects names the objects that could not be loaded; they stay
	// out of the manifest and are retried by the next run. Only a run's own
	// answer has them; the history keeps their number.
	FailedObjects []string `json:"failed_objects,omitempty"`
	Error         string   `json:"error,omitempty"`
}

// Lease is how long a running run's process may stay silent before
// another run takes it for dead and marks its run abandoned. A running run
// records that it is alive every HeartbeatInterval (Heartbeat), through
// any connection, so a Postgres restart shorter than the lease does not
// make a live run look dead.
const Lease = time.Minute

// HeartbeatInterval is how often a running run calls Heartbeat.
const HeartbeatInterval = Lease / 6

// Started is a run just started, and what its start found of the runs of
// the same log type still marked running.
type Started struct {
	// Run is the run, running.
	Run Run
	// Abandoned are the runs marked abandoned: their processes had not
	// said they were alive for Lease.
	Abandoned []int64
	// Live are runs whose processes are alive but have lost the run lock
	// (lk holds it now): they stop before their next chunk.
	Live []int64
}

// StartRun records the start of a run of a log type over the hour folders
// from from to to and returns it, running, owned by the session of lk
// holding the log type's run lock: each chunk checks that the session still
// holds it. A nil lk starts a run without an owner, whose chunks are not
// checked (tests of the loader alone).
//
// Before that, it waits for a chunk in flight of an earlier run that lost
// the lock, and marks abandoned the runs of the log type still running
// whose processes have been silent for Lease.
func (l *Ledger) StartRun(ctx context.Context, lk *Lock, logType, trigger string, from, to time.Time) (Started, error) {
	owner, err := lk.owner(logType)
	if err != nil {
		return Started{}, err
	}
	var pid *int32
	var backendStart *time.Time
	if owner != nil {
		pid, backendStart = &owner.pid, &owner.started
	}
	st := Started{Run: Run{LogType: logType, Trigger: trigger, WindowFrom: from, WindowTo: to, Status: StatusRunning}}
	err = pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+chunkKey("$1")+`)`, logType); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			UPDATE masora_runs SET status = 'abandoned', finished_at = now(),
			       error = format('no sign of life from the process running it since %s (more than %s): it stopped before it finished; marked by the next run',
			                      coalesce(heartbeat_at, started_at), $3::text)
			WHERE log_type = $1 AND status = 'running' AND coalesce(heartbeat_at, started_at) < now() - $2::interval
			RETURNING run_id`, logType, Lease, Lease.String())
		if err != nil {
			return err
		}
		if st.Abandoned, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(array_agg(run_id ORDER BY run_id), '{}') FROM masora_runs WHERE log_type = $1 AND status = 'running'`,
			logType).Scan(&st.Live); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO masora_runs (log_type, trigger, window_from, window_to, lock_pid, lock_backend_start, heartbeat_at)
			VALUES ($1, $2, $3, $4, $5, $6, now()) RETURNING run_id, started_at`,
			logType, trigger, from, to, pid, backendStart).Scan(&st.Run.ID, &st.Run.StartedAt)
	})
	if err != nil {
		return Started{}, pgfault.Classify("record run start of "+logType, err)
	}
	return st, nil
}

// Heartbeat records that the process running a run is alive. It returns
// an error wrapping ErrLockLost when the run is no longer running (another
// run marked it abandoned).
func (l *Ledger) Heartbeat(ctx context.Context, id int64) error {
	tag, err := l.pool.Exec(ctx, `UPDATE masora_runs SET heartbeat_at = now() WHERE run_id = $1 AND status = 'running'`, id)
	if err != nil {
		return pgfault.Classify(fmt.Sprintf("record that run %d is alive", id), err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("run %d: %w: it is no longer running (marked abandoned by another run): %w", id, ErrLockLost, fault.ErrBusy)
	}
	return nil
}

// PlanRun records how many objects a run listed and how many were new.
func (l *Ledger) PlanRun(ctx context.Context, id int64, listed, fresh int) error {
	_, err := l.pool.Exec(ctx, `UPDATE masora_runs SET objects_listed = $2, objects_new = $3 WHERE run_id = $1`, id, listed, fresh)
	if err != nil {
		return pgfault.Classify(fmt.Sprintf("record plan of run %d", id), err)
	}
	return nil
}

// CountChunk adds a loaded chunk to its run's counters, in the chunk's
// transaction tx. If the run is no longer running (another instance marked
// it abandoned), the error wraps fault.ErrBusy.
func CountChunk(ctx context.Context, tx pgx.Tx, runID int64, objects int, rows, duplicates int64) error {
	tag, err := tx.Exec(ctx, `
		UPDATE masora_runs
		SET objects_loaded = objects_loaded + $2, chunks_loaded = chunks_loaded + 1,
		    rows_loaded = rows_loaded + $3, duplicates_skipped = duplicates_skipped + $4
		WHERE run_id = $1 AND status = 'running'`,
		runID, objects, rows, duplicates)
	if err != nil {
		return pgfault.Classify("update run counters", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("update run %d: %w: the run is no longer running (marked abandoned by another instance?)", runID, fault.ErrBusy)
	}
	return nil
}

// FinishRun records the end of a run: succeeded when runErr is nil, else
// failed with runErr's message and the number of objects that could not be
// loaded. It returns when the run finished, or nil if it was no longer
// running (marked abandoned by another instance). It uses its own deadline,
// so a run cancelled by its caller is still recorded.
func (l *Ledger) FinishRun(ctx context.Context, id int64, failedObjects int, runErr error) (*time.Time, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	status, msg := StatusSucceeded, (*string)(nil)
	if runErr != nil {
		status = StatusFailed
		m := runErr.Error()
		msg = &m
	}
	var finished time.Time
	err := l.pool.QueryRow(ctx, `
		UPDATE masora_runs SET status = $2, error = $3, objects_failed = $4, finished_at = now()
		WHERE run_id = $1 AND status = 'running' RETURNING finished_at`, id, status, msg, failedObjects).Scan(&finished)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, pgfault.Classify(fmt.Sprintf("record end of run %d", id), err)
	}
	return &finished, nil
}

const runColumns = `run_id, log_type, trigger, window_from, window_to, status, started_at, finished_at,
	objects_listed, objects_new, objects_loaded, objects_failed, chunks_loaded, rows_loaded,
	duplicates_skipped, coalesce(error, '')`

func scanRun(row pgx.CollectableRow) (Run, error) {
	var r Run
	err := row.Scan(&r.ID, &r.LogType, &r.Trigger, &r.WindowFrom, &r.WindowTo, &r.Status, &r.StartedAt, &r.FinishedAt,
		&r.ObjectsListed, &r.ObjectsNew, &r.ObjectsLoaded, &r.ObjectsFailed, &r.ChunksLoaded, &r.RowsLoaded,
		&r.DuplicatesSkipped, &r.Error)
	return r, err
}

// Runs returns the most recent runs, newest first, at most limit, of one
// log type or of all when logType is empty.
func (l *Ledger) Runs(ctx context.Context, logType string, limit int) ([]Run, error) {
	rows, err := l.pool.Query(ctx, `SELECT `+runColumns+` FROM masora_runs
		WHERE $1 = '' OR log_type = $1 ORDER BY started_at DESC, run_id DESC LIMIT $2`, logType, limit)
	if err != nil {
		return nil, pgfault.Classify("read run history", err)
	}
	runs, err := pgx.CollectRows(rows, scanRun)
	if err != nil {
		return nil, pgfault.Classify("read run history", err)
	}
	return runs, nil
}

// GetRun returns one run, or an error wrapping fault.ErrNotFound.
func (l *Ledger) GetRun(ctx context.Context, id int64) (Run, error) {
	rows, err := l.pool.Query(ctx, `SELECT `+runColumns+` FROM masora_runs WHERE run_id = $1`, id)
	if err != nil {
		return Run{}, pgfault.Classify(fmt.Sprintf("read run %d", id), err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, fmt.Errorf("run %d: %w", id, fault.ErrNotFound)
	}
	if err != nil {
		return Run{}, pgfault.Classify(fmt.Sprintf("read run %d", id), err)
	}
	return r, nil
}
