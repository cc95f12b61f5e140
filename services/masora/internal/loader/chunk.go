package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
)

// Rows is a stream of transform-result rows, one chunk's query result.
type Rows interface {
	// Next loads the next row into *dst, one value per column of the log
	// type (schema.LogType.Columns order), as the BigQuery row iterator
	// yields them; it returns io.EOF after the last row.
	Next(dst *[]bigquery.Value) error
}

// Chunk is one chunk of a run: objects whose transformed rows are loaded
// together, all or nothing.
type Chunk struct {
	// RunID is the run the chunk belongs to; its counters are updated in
	// the chunk's transaction.
	RunID int64
	// LogType names the log type; its latest version's columns are loaded.
	LogType string
	// Objects are recorded in the manifest in the chunk's transaction.
	Objects []ledger.Object
	// Open starts reading the chunk's transform result from the beginning.
	// It is called once, or twice when rows loaded earlier are in the chunk.
	Open func(ctx context.Context) (Rows, error)
}

// Stats tell what loading a chunk did.
type Stats struct {
	// Rows is the number of rows inserted.
	Rows int64
	// Duplicates is the number of result rows skipped because a row with the
	// same event_id was loaded before.
	Duplicates int64
	// Staged is true when the chunk took the slow path through a staging
	// table because some of its rows were loaded before.
	Staged bool
	// Hours is the number of summary hours the rows touch.
	Hours int
	// HoursRecomputed is the number of those hours recomputed from the row
	// table; the others were new and summarised from the chunk's rows.
	HoursRecomputed int
}

// LoadChunk loads a chunk in one transaction: it records the chunk's objects
// in the manifest, copies the result rows into the log type's table, skipping
// rows whose event_id is already there, recomputes the hourly summary of every
// hour the rows touch and adds the chunk's counts to its run. Either all of
// it commits or nothing does, so a failed chunk can simply be loaded again.
//
// The common case, no row loaded before, copies straight into the table
// inside a savepoint. Only if that hits the event_id key does the chunk roll
// back to the savepoint, re-read the result into a staging table and insert
// from there with ON CONFLICT DO NOTHING.
func (l *Loader) LoadChunk(ctx context.Context, c Chunk) (Stats, error) {
	t, err := l.table(c.LogType)
	if err != nil {
		return Stats{}, err
	}
	tx, err := l.db.Begin(ctx)
	if err != nil {
		return Stats{}, pgfault.Classify("begin chunk transaction", err)
	}
	defer func() {
		// After a commit this is a no-op; otherwise it ends the transaction
		// even if ctx is done (closing the connection would too).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		tx.Rollback(rctx)
	}()

	if err := ledger.RecordObjects(ctx, tx, c.LogType, c.RunID, c.Objects); err != nil {
		return Stats{}, err
	}
	st, hours, agg, err := copyRows(ctx, tx, t, c.Open, l.opts.SummaryLimit)
	if err != nil {
		return Stats{}, err
	}
	st.Hours = len(hours)
	if st.HoursRecomputed, err = updateSummary(ctx, tx, t, hours, agg); err != nil {
		return Stats{}, err
	}
	if err := ledger.CountChunk(ctx, tx, c.RunID, len(c.Objects), st.Rows, st.Duplicates); err != nil {
		return Stats{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Stats{}, pgfault.Classify("commit chunk", err)
	}
	return st, nil
}

// copyRows copies the result into the table: straight in when no row is
// already there, else through the staging table. It returns the summary
// hours the rows touch and, after a direct copy, their in-memory summary.
func copyRows(ctx context.Context, tx pgx.Tx, t *table, open func(context.Context) (Rows, error), summaryLimit int) (Stats, []time.Time, *aggregator, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return Stats{}, nil, nil, pgfault.Classify("create savepoint", err)
	}
	src, err := openSource(ctx, t, open, newAggregator(t, summaryLimit))
	if err != nil {
		return Stats{}, nil, nil, err
	}
	n, err := sp.CopyFrom(ctx, t.name, t.columns, src)
	switch {
	case err == nil:
		if err := sp.Commit(ctx); err != nil {
			return Stats{}, nil, nil, pgfault.Classify("release savepoint", err)
		}
		return Stats{Rows: n}, src.touched(), src.agg, nil
	case src.err != nil:
		return Stats{}, nil, nil, src.err
	case !pgfault.UniqueViolation(err):
		return Stats{}, nil, nil, pgfault.Classify(fmt.Sprintf("copy rows into %s", t.lt.Table), err)
	}

	// Some rows were loaded before: undo the copy and go through staging.
	if err := sp.Rollback(ctx); err != nil {
		return Stats{}, nil, nil, pgfault.Classify("roll back to savepoint", err)
	}
	if _, err := tx.Exec(ctx, t.createStage); err != nil {
		return Stats{}, nil, nil, pgfault.Classify("create staging table", err)
	}
	if src, err = openSource(ctx, t, open, nil); err != nil {
		return Stats{}, nil, nil, err
	}
	staged, err := tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", stageTable}, t.columns, src)
	if src.err != nil {
		return Stats{}, nil, nil, src.err
	}
	if err != nil {
		return Stats{}, nil, nil, pgfault.Classify("copy rows into the staging table", err)
	}
	tag, err := tx.Exec(ctx, t.insertFromStage)
	if err != nil {
		return Stats{}, nil, nil, pgfault.Classify(fmt.Sprintf("insert staged rows into %s", t.lt.Table), err)
	}
	return Stats{Rows: tag.RowsAffected(), Duplicates: staged - tag.RowsAffected(), Staged: true}, src.touched(), nil, nil
}

func openSource(ctx context.Context, t *table, open func(context.Context) (Rows, error), agg *aggregator) (*copySource, error) {
	rows, err := open(ctx)
	if err != nil {
		return nil, fmt.Errorf("read transform result: %w", err)
	}
	return &copySource{
		t:     t,
		rows:  rows,
		out:   make([]any, len(t.columns)),
		hours: make(map[int64]bool),
		last:  -1,
		agg:   agg,
	}, nil
}

// copySource feeds transform-result rows to pgx CopyFrom, converting each
// value, noting the hour of each row's occurred_at and adding the row to
// the in-memory summary. It holds one row.
type copySource struct {
	t     *table
	rows  Rows
	in    []bigquery.Value
	out   []any
	hours map[int64]bool // Unix hours
	last  int64
	agg   *aggregator // nil on the staged path
	n     int64
	err   error
}

// Next implements pgx.CopyFromSource.
func (s *copySource) Next() bool {
	err := s.rows.Next(&s.in)
	if errors.Is(err, io.EOF) {
		return false
	}
	if err != nil {
		s.err = fmt.Errorf("read transform result row %d: %w", s.n+1, err)
		return false
	}
	s.n++
	if len(s.in) != len(s.out) {
		s.err = fmt.Errorf("%w: transform result row %d has %d values, want the %d columns of %s", fault.ErrBadObject, s.n, len(s.in), len(s.out), s.t.lt)
		return false
	}
	for i, conv := range s.t.convert {
		v, err := conv(s.in[i])
		if err != nil {
			s.err = fmt.Errorf("transform result row %d: %w", s.n, err)
			return false
		}
		s.out[i] = v
	}
	h := s.in[s.t.occurred].(time.Time).Truncate(time.Hour).Unix() / 3600
	if h != s.last {
		s.hours[h], s.last = true, h
	}
	s.agg.add(s.in, h)
	return true
}

// Values implements pgx.CopyFromSource.
func (s *copySource) Values() ([]any, error) { return s.out, nil }

// Err implements pgx.CopyFromSource.
func (s *copySource) Err() error { return s.err }

// touched returns the hours of the rows read, in order.
func (s *copySource) touched() []time.Time {
	out := make([]time.Time, 0, len(s.hours))
	for h := range s.hours {
		out = append(out, time.Unix(h*3600, 0).UTC())
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}
