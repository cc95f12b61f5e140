package loader

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
)

// The hourly summary of every hour a chunk touches must equal a
// recomputation from the row table (the invariant). Recomputing means
// reading every row of those hours again, which for a chunk of fresh hours
// costs as much as a tenth of the COPY. So while rows stream into a direct
// COPY, the loader also aggregates them in memory; an hour with no summary
// rows yet has no rows in the table either, so for such an hour the
// aggregate of the chunk's rows is the recomputation. Hours that had rows
// before are recomputed from the table in SQL, as is everything on the
// staged path or when the aggregate outgrows its memory bound.

// DefaultSummaryLimit is the default Options.SummaryLimit.
const DefaultSummaryLimit = 200_000

// maxDims is the most summary dimensions aggregated in memory; summaries
// with more are always recomputed in SQL.
const maxDims = 4

type groupKey struct {
	hour int64 // Unix hour
	dims [maxDims]string
}

type group struct {
	events   int64
	distinct map[string]struct{}
}

// aggregator computes the hourly summary of the rows it is given, as long
// as it stays within limit distinct (hour, dimensions, distinct value)
// combinations. The strings are the row values themselves, not copies.
type aggregator struct {
	t      *table
	limit  int
	size   int // distinct values over all groups
	groups map[groupKey]*group
}

func newAggregator(t *table, limit int) *aggregator {
	if len(t.dims) > maxDims || limit <= 0 {
		return nil
	}
	return &aggregator{t: t, limit: limit, groups: make(map[groupKey]*group)}
}

// add counts one row whose occurred_at is in Unix hour hour. A nil
// aggregator, or one that outgrew its limit, ignores it.
func (a *aggregator) add(row []bigquery.Value, hour int64) {
	if a == nil || a.groups == nil {
		return
	}
	k := groupKey{hour: hour}
	for i, d := range a.t.dims {
		k.dims[i] = row[d].(string)
	}
	g := a.groups[k]
	if g == nil {
		g = &group{distinct: make(map[string]struct{})}
		a.groups[k] = g
	}
	g.events++
	v := row[a.t.distinct].(string)
	if _, seen := g.distinct[v]; seen {
		return
	}
	if a.size >= a.limit {
		a.groups = nil // too big: recompute in SQL instead
		return
	}
	a.size++
	g.distinct[v] = struct{}{}
}

// usable reports whether the aggregate is complete.
func (a *aggregator) usable() bool { return a != nil && a.groups != nil }

// updateSummary brings the summary of the touched hours up to date in tx:
// from agg for hours the summary does not have yet, when agg is usable,
// and by recomputation from the row table for the others. It returns how
// many hours were recomputed.
func updateSummary(ctx context.Context, tx pgx.Tx, t *table, hours []time.Time, agg *aggregator) (int, error) {
	recompute := hours
	var fresh map[int64]bool
	if agg.usable() {
		rows, err := tx.Query(ctx, t.existingHours, hours)
		if err != nil {
			return 0, pgfault.Classify("read summary hours", err)
		}
		existing, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
		if err != nil {
			return 0, pgfault.Classify("read summary hours", err)
		}
		recompute = existing
		fresh = make(map[int64]bool, len(hours))
		for _, h := range hours {
			fresh[h.Unix()/3600] = true
		}
		for _, h := range existing {
			delete(fresh, h.Unix()/3600)
		}
	}
	b := &pgx.Batch{}
	if len(recompute) > 0 {
		b.Queue(t.deleteSummary, recompute)
		b.Queue(t.insertSummary, recompute)
	}
	if len(fresh) > 0 {
		b.Queue(t.insertAgg, agg.columns(fresh)...)
	}
	if b.Len() == 0 {
		return 0, nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, pgfault.Classify(fmt.Sprintf("update %s for %d hours", t.lt.Summary.Table, len(hours)), err)
	}
	return len(recompute), nil
}

// columns returns the summary rows of the given hours as the arrays of
// the table's insertAgg statement: hours, one array per dimension, events,
// distinct counts. Rows are sorted, for a deterministic insert order.
func (a *aggregator) columns(hours map[int64]bool) []any {
	var keys []groupKey
	for k := range a.groups {
		if hours[k.hour] {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y groupKey) int {
		if c := cmp.Compare(x.hour, y.hour); c != 0 {
			return c
		}
		return slices.Compare(x.dims[:], y.dims[:])
	})
	hourCol := make([]time.Time, len(keys))
	dimCols := make([][]string, len(a.t.dims))
	for i := range dimCols {
		dimCols[i] = make([]string, len(keys))
	}
	events := make([]int64, len(keys))
	distinct := make([]int64, len(keys))
	for i, k := range keys {
		hourCol[i] = time.Unix(k.hour*3600, 0).UTC()
		for d := range dimCols {
			dimCols[d][i] = k.dims[d]
		}
		g := a.groups[k]
		events[i], distinct[i] = g.events, int64(len(g.distinct))
	}
	args := []any{hourCol}
	for _, c := range dimCols {
		args = append(args, c)
	}
	return append(args, events, distinct)
}
