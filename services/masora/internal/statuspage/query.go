package statuspage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
)

// Status is everything the page shows, read at one moment.
type Status struct {
	// Now is when it was read, UTC.
	Now time.Time
	// Hours are the hours the charts cover, oldest first: the window's
	// last hour is the one Now is in.
	Hours []time.Time
	// LogTypes are the defined log types, in the registry's order, then
	// the log types only quarantined messages name (Defined false), by name.
	LogTypes []LogType
	// DLQ is the dead-letter queue's depth.
	DLQ DLQ
}

// LogType is what the page shows of one log type.
type LogType struct {
	// Name is the log type; "" for quarantined messages that named none.
	Name string
	// Defined is false for a name only quarantined messages carry: not a
	// log type of schemas/, so it has no loads or runs.
	Defined bool
	// NewestHour is the newest hour folder in masora_manifest; zero when
	// nothing was loaded yet.
	NewestHour time.Time
	// Runs are the most recent runs, newest first.
	Runs []ledger.Run
	// RowsPerHour are the rows loaded by the runs that started in each of
	// Status.Hours (masora_runs.rows_loaded, counted by each committed
	// chunk), parallel to Status.Hours.
	RowsPerHour []int64
	// QuarantinedPerHour are the quarantined messages received in each of
	// Status.Hours (quarantine_hourly), parallel to Status.Hours.
	QuarantinedPerHour []int64
	// ReasonKinds are the quarantined messages of the window per reason
	// kind, most first (quarantine_hourly).
	ReasonKinds []ReasonCount
	// TopReasons are the most frequent reasons of the window's quarantined
	// messages, most first (quarantined_messages).
	TopReasons []ReasonCount
}

// ReasonCount is how many quarantined messages had one reason kind, or one
// reason (Reason set).
type ReasonCount struct {
	Kind     string
	Reason   string
	Messages int64
}

// Lag is how long ago the newest loaded hour folder began at now: an
// upper bound of the age of the newest loaded data. It is 0 when nothing
// was loaded yet (see NewestHour).
func (l LogType) Lag(now time.Time) time.Duration {
	if l.NewestHour.IsZero() {
		return 0
	}
	return max(0, now.Sub(l.NewestHour))
}

// readOptions say what Read reads.
type readOptions struct {
	logTypes   []string
	hours      int
	runs       int
	topReasons int
}

// hoursEnding returns the n whole hours ending with the one now is in,
// oldest first, UTC.
func hoursEnding(now time.Time, n int) []time.Time {
	last := now.UTC().Truncate(time.Hour)
	hours := make([]time.Time, n)
	for i := range hours {
		hours[i] = last.Add(-time.Duration(n-1-i) * time.Hour)
	}
	return hours
}

// read reads the status of every log type from Postgres at now. The DLQ
// is left to the caller.
func read(ctx context.Context, pool *pgxpool.Pool, now time.Time, o readOptions) (*Status, error) {
	s := &Status{Now: now.UTC(), Hours: hoursEnding(now, o.hours)}
	from, to := s.Hours[0], s.Hours[len(s.Hours)-1].Add(time.Hour)
	byName := map[string]*LogType{}
	lt := func(name string) *LogType {
		if l, ok := byName[name]; ok {
			return l
		}
		l := &LogType{Name: name, RowsPerHour: make([]int64, o.hours), QuarantinedPerHour: make([]int64, o.hours)}
		byName[name] = l
		return l
	}
	for _, name := range o.logTypes {
		lt(name).Defined = true
	}
	index := func(hour time.Time) int { return int(hour.UTC().Sub(from) / time.Hour) }

	// Newest hour folder per log type: one backward scan of
	// masora_manifest_log_type_hour_idx each.
	rows, err := pool.Query(ctx, `
		SELECT lt, (SELECT max(hour) FROM masora_manifest m WHERE m.log_type = lt)
		FROM unnest($1::text[]) AS lt`, o.logTypes)
	if err := scan(rows, err, func(r pgx.Rows) error {
		var name string
		var newest *time.Time
		if err := r.Scan(&name, &newest); err != nil {
			return err
		}
		if newest != nil {
			lt(name).NewestHour = newest.UTC()
		}
		return nil
	}); err != nil {
		return nil, pgfault.Classify("read the newest loaded hours (masora_manifest)", err)
	}

	history := ledger.New(pool)
	for _, name := range o.logTypes {
		if lt(name).Runs, err = history.Runs(ctx, name, o.runs); err != nil {
			return nil, fmt.Errorf("read the runs of %s: %w", name, err)
		}
	}

	rows, err = pool.Query(ctx, `
		SELECT log_type, started_at, rows_loaded FROM masora_runs
		WHERE started_at >= $1 AND started_at < $2`, from, to)
	if err := scan(rows, err, func(r pgx.Rows) error {
		var name string
		var started time.Time
		var n int64
		if err := r.Scan(&name, &started, &n); err != nil {
			return err
		}
		if l, ok := byName[name]; ok {
			l.RowsPerHour[index(started)] += n
		}
		return nil
	}); err != nil {
		return nil, pgfault.Classify("read the rows loaded per hour (masora_runs)", err)
	}

	kinds := map[string]map[string]int64{}
	rows, err = pool.Query(ctx, `
		SELECT log_type, hour, reason_kind, sum(messages)::bigint FROM quarantine_hourly
		WHERE hour >= $1 AND hour < $2 GROUP BY 1, 2, 3`, from, to)
	if err := scan(rows, err, func(r pgx.Rows) error {
		var name, kind string
		var hour time.Time
		var n int64
		if err := r.Scan(&name, &hour, &kind, &n); err != nil {
			return err
		}
		lt(name).QuarantinedPerHour[index(hour)] += n
		if kinds[name] == nil {
			kinds[name] = map[string]int64{}
		}
		kinds[name][kind] += n
		return nil
	}); err != nil {
		return nil, pgfault.Classify("read the quarantined messages per hour (quarantine_hourly)", err)
	}
	for name, m := range kinds {
		l := lt(name)
		for kind, n := range m {
			l.ReasonKinds = append(l.ReasonKinds, ReasonCount{Kind: kind, Messages: n})
		}
		sortReasons(l.ReasonKinds)
	}

	rows, err = pool.Query(ctx, `
		SELECT log_type, reason_kind, reason, n FROM (
			SELECT log_type, reason_kind, reason, count(*) AS n,
			       row_number() OVER (PARTITION BY log_type ORDER BY count(*) DESC, reason_kind, reason) AS rank
			FROM quarantined_messages WHERE received_at >= $1 AND received_at < $2
			GROUP BY 1, 2, 3) AS r
		WHERE rank <= $3`, from, to, o.topReasons)
	if err := scan(rows, err, func(r pgx.Rows) error {
		var name string
		var c ReasonCount
		if err := r.Scan(&name, &c.Kind, &c.Reason, &c.Messages); err != nil {
			return err
		}
		l := lt(name)
		l.TopReasons = append(l.TopReasons, c)
		return nil
	}); err != nil {
		return nil, pgfault.Classify("read the top quarantine reasons (quarantined_messages)", err)
	}

	for _, name := range o.logTypes {
		s.LogTypes = append(s.LogTypes, *byName[name])
	}
	var others []LogType
	for _, l := range byName {
		if !l.Defined {
			sortReasons(l.TopReasons)
			others = append(others, *l)
		}
	}
	slices.SortFunc(others, func(a, b LogType) int { return cmp.Compare(a.Name, b.Name) })
	for i := range s.LogTypes {
		sortReasons(s.LogTypes[i].TopReasons)
	}
	s.LogTypes = append(s.LogTypes, others...)
	return s, nil
}

// sortReasons orders counts most first, then by kind and reason.
func sortReasons(rs []ReasonCount) {
	slices.SortFunc(rs, func(a, b ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Messages, a.Messages), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Reason, b.Reason))
	})
}

// scan calls fn for every row of a query's result, and returns the query's
// error, fn's or the rows'.
func scan(rows pgx.Rows, err error, fn func(pgx.Rows) error) error {
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
