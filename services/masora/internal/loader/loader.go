// Package loader owns writing the reporting Postgres's row and summary
// tables: loading one chunk of transform-result rows exactly once (rows,
// hourly summaries, and through internal/ledger the chunk's manifest entries
// and run counters, in one transaction), and likewise one chunk of
// quarantine records into quarantined_messages and quarantine_hourly.
package loader

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
)

// DB is the reporting Postgres as the loader uses it: a *pgxpool.Pool.
// Tests wrap one to act just before a chunk's commit (masoratest.BeforeCommit).
type DB interface {
	// Begin starts a transaction.
	Begin(ctx context.Context) (pgx.Tx, error)
	// QueryRow runs a query that returns at most one row.
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Loader loads chunks into the reporting Postgres. It is safe for
// concurrent use.
type Loader struct {
	db     DB
	tables map[string]*table // by log type name
	opts   Options
}

// Options tune a Loader. The zero value is the production setting.
type Options struct {
	// SummaryLimit bounds the memory of the in-memory hourly summary of a
	// chunk: the most distinct (hour, dimensions, distinct value)
	// combinations it holds, about 150 bytes each, before the chunk's
	// summary is recomputed in SQL instead. 0 means DefaultSummaryLimit; a
	// negative value always recomputes in SQL.
	SummaryLimit int
}

// New returns a Loader for the latest version of every log type in reg.
func New(db DB, reg *schema.Registry, opts Options) (*Loader, error) {
	if opts.SummaryLimit == 0 {
		opts.SummaryLimit = DefaultSummaryLimit
	}
	l := &Loader{db: db, tables: make(map[string]*table), opts: opts}
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
// the ledger's, every log type's row and summary tables, and the
// quarantine's.
func (l *Loader) Ready(ctx context.Context) error {
	names := append(ledger.Tables(), QuarantineTable, QuarantineSummary)
	for _, t := range l.tables {
		names = append(names, t.lt.Table, t.lt.Summary.Table)
	}
	slices.Sort(names)
	var missing []string
	err := l.db.QueryRow(ctx,
		`SELECT coalesce(array_agg(n ORDER BY n), '{}') FROM unnest($1::text[]) AS n WHERE to_regclass(quote_ident(n)) IS NULL`,
		names).Scan(&missing)
	if err != nil {
		return pgfault.Classify("check reporting tables", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("reporting database lacks tables %v: run `masora migrate`", missing)
	}
	return nil
}
