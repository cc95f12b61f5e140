// Package ledger owns Masora's run state in the reporting Postgres: the load
// manifest (which object versions are loaded), the run history and its
// statuses, and the per-log-type run lock. The writes that belong to a
// chunk (its manifest entries and its run counters) take the chunk's
// transaction, so that they commit together with its rows.
package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
)

// Tables returns the tables the ledger keeps its state in.
func Tables() []string { return []string{"masora_runs", "masora_manifest"} }

// Ledger reads and writes the run state. It is safe for concurrent use; a
// Lock it returns is used by one run at a time.
type Ledger struct {
	pool *pgxpool.Pool
}

// New returns a Ledger over the reporting Postgres.
func New(pool *pgxpool.Pool) *Ledger {
	return &Ledger{pool: pool}
}

// Object is a parquet object as the manifest records it.
type Object struct {
	// Name is the object's full name in the bucket.
	Name string
	// Generation is the object's Cloud Storage generation.
	Generation int64
	// Hour is the object's hour folder.
	Hour time.Time
	// Size is the object's size in bytes.
	Size int64
}

// Key identifies one version of an object.
type Key struct {
	Name       string
	Generation int64
}

// Loaded returns the manifest entries of a log type whose hour folder is
// from from to to, both included.
func (l *Ledger) Loaded(ctx context.Context, logType string, from, to time.Time) (map[Key]bool, error) {
	rows, err := l.pool.Query(ctx,
		`SELECT object_name, generation FROM masora_manifest WHERE log_type = $1 AND hour BETWEEN $2 AND $3`,
		logType, from, to)
	if err != nil {
		return nil, pgfault.Classify("read load manifest", err)
	}
	out := make(map[Key]bool)
	var k Key
	_, err = pgx.ForEachRow(rows, []any{&k.Name, &k.Generation}, func() error {
		out[k] = true
		return nil
	})
	if err != nil {
		return nil, pgfault.Classify("read load manifest", err)
	}
	return out, nil
}

// RecordObjects records a chunk's objects in the manifest, in the chunk's
// transaction tx; it must be the chunk's first statement. It first makes
// sure that the chunk may load: it takes the log type's chunk lock until tx
// ends (a run starting meanwhile waits for it, see StartRun) and checks that
// the run still owns its log type's run lock and is running, else it
// returns an error wrapping ErrLockLost and fault.ErrBusy. Objects some
// other run committed meanwhile collide on the manifest's key: the error
// then wraps fault.ErrBusy.
func RecordObjects(ctx context.Context, tx pgx.Tx, logType string, runID int64, objs []Object) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+chunkKey("$1")+`)`, logType); err != nil {
		return pgfault.Classify("take the chunk lock of "+logType, err)
	}
	if err := checkOwner(ctx, tx, runID); err != nil {
		return err
	}
	names := make([]string, len(objs))
	gens := make([]int64, len(objs))
	hours := make([]time.Time, len(objs))
	sizes := make([]int64, len(objs))
	for i, o := range objs {
		names[i], gens[i], hours[i], sizes[i] = o.Name, o.Generation, o.Hour, o.Size
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO masora_manifest (object_name, generation, log_type, hour, size_bytes, run_id)
		SELECT o.name, o.generation, $1, o.hour, o.size, $2
		FROM unnest($3::text[], $4::bigint[], $5::timestamptz[], $6::bigint[]) AS o(name, generation, hour, size)`,
		logType, runID, names, gens, hours, sizes)
	if pgfault.UniqueViolation(err) {
		return fmt.Errorf("record %d objects in the manifest: %w: some of them were committed meanwhile, by another run or by an earlier attempt of this chunk whose commit's answer was lost: %w", len(objs), fault.ErrBusy, err)
	}
	if err != nil {
		return pgfault.Classify("record objects in the manifest", err)
	}
	return nil
}
