package loader_test

import (
	"context"
	"fmt"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
)

// The benchmarks load benchRows user_action rows, as the BigQuery row
// iterator yields them, into the real Postgres of the local stack:
//
//	go test -run '^$' -bench . -benchtime 1x -count 3 ./internal/loader/
//
// BenchmarkLoad1M is Masora's full exactly-once chunk load (manifest,
// savepoint, COPY into the keyed table, hourly summary recomputation, run
// counters, commit); BenchmarkRawCopyFrom1M the floor, a bare pgx CopyFrom
// of the same rows into an identical table; BenchmarkInsertBatches1M the
// naive way, multi-row INSERTs of 1,000 rows.
const (
	benchRows = 1_000_000
	// benchStep spreads the rows' occurred_at over 2.8 hours, as a chunk of
	// one received hour's files typically is.
	benchStep = 10 * time.Millisecond
)

// truncate empties the tables a load writes.
func truncate(b *testing.B, p *masoratest.Postgres, tables ...string) {
	b.Helper()
	if _, err := p.Pool.Exec(b.Context(), `TRUNCATE `+strings.Join(tables, ", ")); err != nil {
		b.Fatal(err)
	}
	if _, err := p.Pool.Exec(b.Context(), `CHECKPOINT`); err != nil {
		b.Fatal(err)
	}
}

// heapPeak samples the live heap while a benchmark runs.
type heapPeak struct {
	stop chan struct{}
	wg   sync.WaitGroup
	max  uint64
}

func watchHeap() *heapPeak {
	h := &heapPeak{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			h.max = max(h.max, sample[0].Value.Uint64())
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapPeak) report(b *testing.B) {
	close(h.stop)
	h.wg.Wait()
	b.ReportMetric(float64(h.max)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkLoad1M(b *testing.B) {
	benchmarkLoad(b, false)
}

// BenchmarkLoad1MConflictAtEnd is the worst case of the slow path: the last
// row of the result was loaded before, so the direct COPY fails at the end
// and the chunk goes through the staging table.
func BenchmarkLoad1MConflictAtEnd(b *testing.B) {
	benchmarkLoad(b, true)
}

func benchmarkLoad(b *testing.B, conflict bool) {
	p := masoratest.NewPostgres(b)
	l := newLoader(b, p, loader.Options{})
	lg := ledger.New(p.Pool)
	gen := newUserActions(42, 0, benchRows, benchStep)
	var peak *heapPeak
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		truncate(b, p, "user_actions", "user_action_hourly", "masora_manifest", "masora_runs")
		if conflict {
			if _, err := l.LoadChunk(b.Context(), loader.Chunk{RunID: startRun(b, lg), LogType: "user_action", Objects: objects(1),
				Open: newUserActions(42, benchRows-1, 1, benchStep).open}); err != nil {
				b.Fatal(err)
			}
		}
		runID := startRun(b, lg)
		if peak == nil {
			peak = watchHeap()
		}
		b.StartTimer()
		st, err := l.LoadChunk(b.Context(), loader.Chunk{RunID: runID, LogType: "user_action", Objects: objects(100), Open: gen.open})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		want := loader.Stats{Rows: benchRows, Hours: 3}
		if conflict {
			want = loader.Stats{Rows: benchRows - 1, Duplicates: 1, Staged: true, Hours: 3, HoursRecomputed: 3}
		}
		if st != want {
			b.Fatalf("LoadChunk = %+v, want %+v", st, want)
		}
	}
	peak.report(b)
}

// rawSource is the least any loader must do with the iterator's rows:
// parse the UUID, pass the rest through.
type rawSource struct {
	rows loader.Rows
	in   []bigquery.Value
	out  []any
	err  error
}

func (s *rawSource) Next() bool {
	if err := s.rows.Next(&s.in); err != nil {
		return false
	}
	u, err := uuid.Parse(s.in[0].(string))
	if err != nil {
		s.err = err
		return false
	}
	s.out = s.out[:0]
	for _, v := range s.in {
		s.out = append(s.out, v)
	}
	s.out[0] = pgtype.UUID{Bytes: u, Valid: true}
	return true
}

func (s *rawSource) Values() ([]any, error) { return s.out, nil }
func (s *rawSource) Err() error             { return s.err }

// columns are user_action's latest columns, the transform result's.
func columns(b *testing.B, p *masoratest.Postgres) []string {
	lt, err := p.Registry.Latest("user_action")
	if err != nil {
		b.Fatal(err)
	}
	var cols []string
	for _, c := range lt.Columns() {
		cols = append(cols, c.Name)
	}
	return cols
}

// identical creates a table like user_actions, with its key and indexes.
func identical(b *testing.B, p *masoratest.Postgres, name string) {
	if _, err := p.Pool.Exec(b.Context(), `CREATE TABLE `+name+` (LIKE user_actions INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkRawCopyFrom1M(b *testing.B) {
	p := masoratest.NewPostgres(b)
	identical(b, p, "raw_copy")
	cols := columns(b, p)
	gen := newUserActions(42, 0, benchRows, benchStep)
	var peak *heapPeak
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		truncate(b, p, "raw_copy")
		rows, _ := gen.open(b.Context())
		if peak == nil {
			peak = watchHeap()
		}
		b.StartTimer()
		n, err := p.Pool.CopyFrom(b.Context(), pgx.Identifier{"raw_copy"}, cols, &rawSource{rows: rows})
		b.StopTimer()
		if err != nil || n != benchRows {
			b.Fatalf("CopyFrom = %d, %v; want %d rows", n, err, benchRows)
		}
	}
	peak.report(b)
}

func BenchmarkInsertBatches1M(b *testing.B) {
	const batch = 1000
	p := masoratest.NewPostgres(b)
	identical(b, p, "insert_batches")
	cols := columns(b, p)
	var sql strings.Builder
	fmt.Fprintf(&sql, "INSERT INTO insert_batches (%s) VALUES ", strings.Join(cols, ", "))
	for r := range batch {
		if r > 0 {
			sql.WriteString(", ")
		}
		sql.WriteString("(")
		for c := range cols {
			if c > 0 {
				sql.WriteString(", ")
			}
			fmt.Fprintf(&sql, "$%d", r*len(cols)+c+1)
		}
		sql.WriteString(")")
	}
	gen := newUserActions(42, 0, benchRows, benchStep)
	var peak *heapPeak
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		truncate(b, p, "insert_batches")
		rows, _ := gen.open(b.Context())
		src := &rawSource{rows: rows}
		args := make([]any, 0, batch*len(cols))
		if peak == nil {
			peak = watchHeap()
		}
		b.StartTimer()
		err := pgx.BeginFunc(b.Context(), p.Pool, func(tx pgx.Tx) error {
			for n := 0; n < benchRows; n += batch {
				args = args[:0]
				for range batch {
					if !src.Next() {
						return fmt.Errorf("generator ended early: %v", src.Err())
					}
					args = append(args, src.out...)
				}
				if _, err := tx.Exec(context.Background(), sql.String(), args...); err != nil {
					return err
				}
			}
			return nil
		})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
	}
	peak.report(b)
}
