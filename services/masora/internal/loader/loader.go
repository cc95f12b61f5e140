// Package loader owns Masora's side of the reporting Postgres: loading one
// chunk of transform-result rows exactly once (rows, manifest entries, hourly
// summaries and run counters in one transaction), the load manifest, the run
// history and the per-log-type run lock.
package loader

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
)

// Loader loads chunks into the reporting Postgres and keeps Masora's state
// there. It is safe for concurrent use.
type Loader struct {
	pool   *pgxpool.Pool
	tables map[string]*table // by log type name
	opts   Options
}

// Options tune a Loader. The zero value is the production setting.
type Options struct {
	// BeforeCommit, when set, is called once a chunk's rows, manifest
	// entries, summaries and run counters are written, just before the
	// commit; an error aborts the chunk. It exists for crash-safety tests
	// and is nil in production.
	BeforeCommit func(ctx context.Context) error
	// SummaryLimit bounds the memory of the in-memory hourly summary of a
	// chunk: the most distinct (hour, dimensions, distinct value)
	// combinations it holds, about 150 bytes each, before the chunk's
	// summary is recomputed in SQL instead. 0 means DefaultSummaryLimit; a
	// negative value always recomputes in SQL.
	SummaryLimit int
}

// New returns a Loader for the latest version of every log type in reg.
func New(pool *pgxpool.Pool, reg *schema.Registry, opts Options) (*Loader, error) {
	if opts.SummaryLimit == 0 {
		opts.SummaryLimit = DefaultSummaryLimit
	}
	l := &Loader{pool: pool, tables: make(map[string]*table), opts: opts}
	for _, name := range reg.Names() {
		lt, err := reg.Latest(name)
		if err != nil {
			return nil, err
		}
		t, err := newTable(lt)
		if err != nil {
			return nil, err
		}
		l.tables[name] = t
	}
	return l, nil
}

func (l *Loader) table(logType string) (*table, error) {
	t, ok := l.tables[logType]
	if !ok {
		return nil, fmt.Errorf("%w: %w %q", fault.ErrInvalid, schema.ErrUnknownLogType, logType)
	}
	return t, nil
}

// Ready checks that Postgres answers and holds the tables Masora writes:
// its own state tables and every log type's row and summary tables.
func (l *Loader) Ready(ctx context.Context) error {
	names := []string{"masora_runs", "masora_manifest"}
	for _, t := range l.tables {
		names = append(names, t.lt.Table, t.lt.Summary.Table)
	}
	slices.Sort(names)
	var missing []string
	err := l.pool.QueryRow(ctx,
		`SELECT coalesce(array_agg(n ORDER BY n), '{}') FROM unnest($1::text[]) AS n WHERE to_regclass(quote_ident(n)) IS NULL`,
		names).Scan(&missing)
	if err != nil {
		return classify("check reporting tables", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("reporting database lacks tables %v: run `masora migrate`", missing)
	}
	return nil
}

// Unique violation and the classes of errors that mean Postgres is not
// usable right now.
const (
	codeUniqueViolation = "23505"
	codeNotNull         = "23502"
	codeCheckViolation  = "23514"
)

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation
}

// classify wraps err with the operation and the fault kind it belongs to:
// ErrUnavailable when Postgres could not be reached, timed out or is
// shutting down; ErrBadObject when Postgres rejected a value of the data.
func classify(op string, err error) error {
	var (
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr), pgconn.Timeout(err),
		pgconn.SafeToRetry(err), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w: %w", op, fault.ErrUnavailable, err)
	case errors.As(err, &pgErr):
		switch {
		case pgErr.Code[:2] == "08", pgErr.Code[:2] == "53", pgErr.Code[:2] == "57":
			// connection exception, insufficient resources, operator intervention
			return fmt.Errorf("%s: %w: %w", op, fault.ErrUnavailable, err)
		case pgErr.Code[:2] == "22", pgErr.Code == codeNotNull, pgErr.Code == codeCheckViolation:
			// data exception: a value of the chunk Postgres does not accept
			return fmt.Errorf("%s: %w: %w", op, fault.ErrBadObject, err)
		}
	}
	return fmt.Errorf("%s: %w", op, err)
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
func (l *Loader) Loaded(ctx context.Context, logType string, from, to time.Time) (map[Key]bool, error) {
	rows, err := l.pool.Query(ctx,
		`SELECT object_name, generation FROM masora_manifest WHERE log_type = $1 AND hour BETWEEN $2 AND $3`,
		logType, from, to)
	if err != nil {
		return nil, classify("read load manifest", err)
	}
	out := make(map[Key]bool)
	var k Key
	_, err = pgx.ForEachRow(rows, []any{&k.Name, &k.Generation}, func() error {
		out[k] = true
		return nil
	})
	if err != nil {
		return nil, classify("read load manifest", err)
	}
	return out, nil
}

func insertManifest(ctx context.Context, tx pgx.Tx, logType string, runID int64, objs []Object) error {
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
	if isUniqueViolation(err) {
		return fmt.Errorf("record %d objects in the manifest: %w: some of them were committed by another run meanwhile: %w", len(objs), fault.ErrBusy, err)
	}
	if err != nil {
		return classify("record objects in the manifest", err)
	}
	return nil
}
