package invariant

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// rows checks that each log type's table holds exactly the distinct
// published event ids.
func (c *checker) rows(ctx context.Context) error {
	for lt := range c.p.Events {
		if _, err := c.reg.Latest(lt); err != nil {
			c.violate(Rows, "events were published as log type %q, which the schema registry does not know", lt)
		}
	}
	for _, name := range c.reg.Names() {
		lt, err := c.reg.Latest(name)
		if err != nil {
			return err
		}
		want := setOf(c.p.Events[name], true)
		c.report.Counts.Events += len(want)
		ids, err := queryStrings(ctx, c.t.DB, "SELECT event_id::text FROM "+pgx.Identifier{lt.Table}.Sanitize())
		if undefinedTable(err) {
			c.violate(Rows, "table %s of log type %s does not exist (migrations not applied?)", lt.Table, name)
			continue
		}
		if err != nil {
			return fmt.Errorf("read event ids of %s: %w", lt.Table, err)
		}
		c.report.Counts.Rows += len(ids)
		got := make(map[string]bool, len(ids))
		var twice []string
		for _, id := range ids {
			if got[id] {
				twice = append(twice, id)
			}
			got[id] = true
		}
		if len(twice) > 0 {
			c.violate(Rows, "%s holds %d event ids more than once (no primary key on event_id?): %s", lt.Table, len(twice), examples(twice, c.opts.Examples))
		}
		if missing := difference(want, got); len(missing) > 0 {
			c.violate(Rows, "%d of the %d distinct %s events published are not in %s (lost): %s",
				len(missing), len(want), name, lt.Table, examples(missing, c.opts.Examples))
		}
		if extra := difference(got, want); len(extra) > 0 {
			c.violate(Rows, "%s holds %d event ids that were never published as valid %s events: %s",
				lt.Table, len(extra), name, examples(extra, c.opts.Examples))
		}
	}
	return nil
}

// summaryDiff is one hourly summary row that differs from its recount.
type summaryDiff struct {
	hour                     time.Time
	dims                     string
	wantEvents, wantDistinct *int64 // recount; nil when no row supports it
	gotEvents, gotDistinct   *int64 // summary; nil when the summary lacks the row
}

func (d summaryDiff) String() string {
	at := d.hour.UTC().Format("2006-01-02T15Z") + " " + d.dims
	switch {
	case d.gotEvents == nil:
		return fmt.Sprintf("%s missing (rows say %d events, %d distinct)", at, *d.wantEvents, *d.wantDistinct)
	case d.wantEvents == nil:
		return fmt.Sprintf("%s has %d events, %d distinct but no row supports it", at, *d.gotEvents, *d.gotDistinct)
	}
	return fmt.Sprintf("%s has %d events, %d distinct; rows say %d, %d", at, *d.gotEvents, *d.gotDistinct, *d.wantEvents, *d.wantDistinct)
}

// summaries checks, for every log type, that its hourly summary equals a
// recount from its row table, in both directions.
func (c *checker) summaries(ctx context.Context) error {
	for _, name := range c.reg.Names() {
		lt, err := c.reg.Latest(name)
		if err != nil {
			return err
		}
		s := lt.Summary
		q := recountQuery(
			fmt.Sprintf("date_trunc('hour', occurred_at, 'UTC') AS hour, %s, count(*) AS events, count(DISTINCT %s) AS dist FROM %s GROUP BY %s",
				dimSelect(s.Dimensions), pgx.Identifier{s.Distinct}.Sanitize(), pgx.Identifier{lt.Table}.Sanitize(), groupBy(len(s.Dimensions)+1)),
			fmt.Sprintf("hour, %s, events, %s AS dist FROM %s", dimSelect(s.Dimensions), pgx.Identifier{s.DistinctColumn}.Sanitize(), pgx.Identifier{s.Table}.Sanitize()),
			len(s.Dimensions))
		diffs, err := c.compareRecount(ctx, q)
		if undefinedTable(err) {
			c.violate(Summaries, "summary %s or row table %s of log type %s does not exist", s.Table, lt.Table, name)
			continue
		}
		if err != nil {
			return fmt.Errorf("recount %s: %w", s.Table, err)
		}
		var n int
		if err := c.t.DB.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{s.Table}.Sanitize()).Scan(&n); err != nil {
			return fmt.Errorf("count %s: %w", s.Table, err)
		}
		c.report.Counts.SummaryRows += n
		if len(diffs) > 0 {
			c.violate(Summaries, "%d rows of %s (hour %s) differ from a recount of %s: %s",
				len(diffs), s.Table, strings.Join(s.Dimensions, "|"), lt.Table, examples(diffs, c.opts.Examples))
		}
	}
	return nil
}

// dimSelect selects dimensions as d0, d1, ... (text, never NULL).
func dimSelect(dims []string) string {
	out := make([]string, len(dims))
	for i, d := range dims {
		out[i] = fmt.Sprintf("coalesce(%s::text, '') AS d%d", pgx.Identifier{d}.Sanitize(), i)
	}
	return strings.Join(out, ", ")
}

// groupBy returns "1, 2, ..., n".
func groupBy(n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(i + 1)
	}
	return strings.Join(out, ", ")
}

// recountQuery compares a recount ("hour, d0.., events, dist FROM ...")
// with a summary of the same shape. It returns every row that differs: hour,
// the dimensions joined by "|", the recount's events and distinct count and
// the summary's (NULL for a side that lacks the row).
func recountQuery(recount, summary string, dims int) string {
	on := []string{"r.hour = s.hour"}
	cols := make([]string, dims)
	for i := range dims {
		on = append(on, fmt.Sprintf("r.d%d = s.d%d", i, i))
		cols[i] = fmt.Sprintf("coalesce(r.d%d, s.d%d)", i, i)
	}
	return fmt.Sprintf(`WITH r AS (SELECT %s), s AS (SELECT %s)
		SELECT coalesce(r.hour, s.hour), concat_ws('|', %s), r.events, r.dist, s.events, s.dist
		FROM r FULL JOIN s ON %s
		WHERE r.events IS DISTINCT FROM s.events OR r.dist IS DISTINCT FROM s.dist
		ORDER BY 1, 2`, recount, summary, strings.Join(cols, ", "), strings.Join(on, " AND "))
}

// compareRecount runs a recountQuery and returns its differences.
func (c *checker) compareRecount(ctx context.Context, q string) ([]string, error) {
	rows, err := c.t.DB.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var d summaryDiff
		err := r.Scan(&d.hour, &d.dims, &d.wantEvents, &d.wantDistinct, &d.gotEvents, &d.gotDistinct)
		return d.String(), err
	})
}

// runs checks that no run is left 'running'.
func (c *checker) runs(ctx context.Context) error {
	rows, err := c.t.DB.Query(ctx, `SELECT run_id, log_type, trigger, started_at FROM masora_runs WHERE status = 'running' ORDER BY run_id`)
	if undefinedTable(err) {
		c.violate(Runs, "table masora_runs does not exist (migrations not applied?)")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read masora_runs: %w", err)
	}
	type run struct {
		id               int64
		logType, trigger string
		started          time.Time
	}
	left, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (run, error) {
		var x run
		err := r.Scan(&x.id, &x.logType, &x.trigger, &x.started)
		return x, err
	})
	if err != nil {
		return fmt.Errorf("read masora_runs: %w", err)
	}
	for _, r := range left {
		c.violate(Runs, "run %d (%s, %s, started %s) is still 'running' after the pipeline settled: no run may be left running",
			r.id, r.logType, r.trigger, r.started.UTC().Format(time.RFC3339))
	}
	return nil
}

// quarantineTables checks quarantined_messages against the bad message ids
// and quarantine_hourly against a recount of quarantined_messages.
func (c *checker) quarantineTables(ctx context.Context) error {
	for _, table := range []string{"quarantined_messages", "quarantine_hourly"} {
		ok, err := tableExists(ctx, c.t.DB, table)
		if err != nil {
			return err
		}
		if !ok {
			c.violate(QuarantineTables, "table %s does not exist (migration 0004 not applied?)", table)
			return nil
		}
	}
	ids, err := queryStrings(ctx, c.t.DB, `SELECT message_id FROM quarantined_messages`)
	if err != nil {
		return fmt.Errorf("read quarantined_messages: %w", err)
	}
	want := c.badSet()
	got := setOf(ids, false)
	if missing := difference(want, got); len(missing) > 0 {
		c.violate(QuarantineTables, "%d of the %d bad messages are not in quarantined_messages: %s", len(missing), len(want), examples(missing, c.opts.Examples))
	}
	if extra := difference(got, want); len(extra) > 0 {
		c.violate(QuarantineTables, "quarantined_messages holds %d message ids that were not published as bad messages: %s", len(extra), examples(extra, c.opts.Examples))
	}
	q := recountQuery(
		`date_trunc('hour', received_at, 'UTC') AS hour, log_type AS d0, coalesce(source, '') AS d1, reason_kind AS d2,
		 count(*) AS events, count(*) AS dist FROM quarantined_messages GROUP BY 1, 2, 3, 4`,
		`hour, log_type AS d0, source AS d1, reason_kind AS d2, messages AS events, messages AS dist FROM quarantine_hourly`, 3)
	diffs, err := c.compareRecount(ctx, q)
	if err != nil {
		return fmt.Errorf("recount quarantine_hourly: %w", err)
	}
	if len(diffs) > 0 {
		c.violate(QuarantineTables, "%d rows of quarantine_hourly (hour log_type|source|reason_kind; messages twice) differ from a recount of quarantined_messages: %s",
			len(diffs), examples(diffs, c.opts.Examples))
	}
	return nil
}

// badSet returns the distinct bad message ids.
func (c *checker) badSet() map[string]bool {
	s := map[string]bool{}
	for _, ids := range c.p.Bad {
		for _, id := range ids {
			s[id] = true
		}
	}
	return s
}
