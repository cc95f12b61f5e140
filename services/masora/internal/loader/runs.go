package loader

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

// Run statuses, as stored in masora_runs.
const (
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusAbandoned = "abandoned"
)

// Run is one row of the run history: one log type in one run.
type Run struct {
	ID                int64      `json:"run_id"`
	LogType           string     `json:"log_type"`
	Trigger           string     `json:"trigger"`
	WindowFrom        time.Time  `json:"window_from"`
	WindowTo          time.Time  `json:"window_to"`
	Status            string     `json:"status"`
	StartedAt         time.Time  `json:"started_at"`
	FinishedAt        *time.Time `json:"finished_at,omitempty"`
	ObjectsListed     int        `json:"objects_listed"`
	ObjectsNew        int        `json:"objects_new"`
	ObjectsLoaded     int        `json:"objects_loaded"`
	ObjectsFailed     int        `json:"objects_failed"`
	ChunksLoaded      int        `json:"chunks_loaded"`
	RowsLoaded        int64      `json:"rows_loaded"`
	DuplicatesSkipped int64      `json:"duplicates_skipped"`
	Error             string     `json:"error,omitempty"`
}

// StartRun records the start of a run of a log type over the hour folders
// from from to to and returns its id. The caller must hold the log type's
// Lock: runs of the log type still marked running are from a process that
// died, and are marked abandoned.
func (l *Loader) StartRun(ctx context.Context, logType, trigger string, from, to time.Time) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			UPDATE masora_runs SET status = 'abandoned', finished_at = now(),
			       error = 'the process running it stopped before it finished'
			WHERE log_type = $1 AND status = 'running'`, logType); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `
			INSERT INTO masora_runs (log_type, trigger, window_from, window_to)
			VALUES ($1, $2, $3, $4) RETURNING run_id`, logType, trigger, from, to).Scan(&id)
	})
	if err != nil {
		return 0, classify("record run start of "+logType, err)
	}
	return id, nil
}

// PlanRun records how many objects a run listed and how many were new.
func (l *Loader) PlanRun(ctx context.Context, id int64, listed, fresh int) error {
	_, err := l.pool.Exec(ctx, `UPDATE masora_runs SET objects_listed = $2, objects_new = $3 WHERE run_id = $1`, id, listed, fresh)
	if err != nil {
		return classify(fmt.Sprintf("record plan of run %d", id), err)
	}
	return nil
}

// FinishRun records the end of a run: succeeded when runErr is nil, else
// failed with runErr's message and the number of objects that could not be
// loaded. It uses its own deadline, so a run cancelled by its caller is
// still recorded.
func (l *Loader) FinishRun(ctx context.Context, id int64, failedObjects int, runErr error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	status, msg := StatusSucceeded, (*string)(nil)
	if runErr != nil {
		status = StatusFailed
		m := runErr.Error()
		msg = &m
	}
	_, err := l.pool.Exec(ctx, `
		UPDATE masora_runs SET status = $2, error = $3, objects_failed = $4, finished_at = now()
		WHERE run_id = $1 AND status = 'running'`, id, status, msg, failedObjects)
	if err != nil {
		return classify(fmt.Sprintf("record end of run %d", id), err)
	}
	return nil
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
func (l *Loader) Runs(ctx context.Context, logType string, limit int) ([]Run, error) {
	rows, err := l.pool.Query(ctx, `SELECT `+runColumns+` FROM masora_runs
		WHERE $1 = '' OR log_type = $1 ORDER BY started_at DESC, run_id DESC LIMIT $2`, logType, limit)
	if err != nil {
		return nil, classify("read run history", err)
	}
	runs, err := pgx.CollectRows(rows, scanRun)
	if err != nil {
		return nil, classify("read run history", err)
	}
	return runs, nil
}

// GetRun returns one run, or an error wrapping fault.ErrNotFound.
func (l *Loader) GetRun(ctx context.Context, id int64) (Run, error) {
	rows, err := l.pool.Query(ctx, `SELECT `+runColumns+` FROM masora_runs WHERE run_id = $1`, id)
	if err != nil {
		return Run{}, classify(fmt.Sprintf("read run %d", id), err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, fmt.Errorf("run %d: %w", id, fault.ErrNotFound)
	}
	if err != nil {
		return Run{}, classify(fmt.Sprintf("read run %d", id), err)
	}
	return r, nil
}
