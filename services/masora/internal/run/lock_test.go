package run_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault/pgfaulttest"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
)

// chunkLog records, on one logical clock, when each chunk transaction of
// any run began and when the committed ones committed, to tell whether two
// runs ever loaded at once.
type chunkLog struct {
	mu        sync.Mutex
	clock     int
	committed [][2]int // begin and commit ticks of each committed chunk
}

// db returns inner as a loader.DB whose transactions are recorded.
func (c *chunkLog) db(inner loader.DB) loader.DB { return trackedDB{DB: inner, log: c} }

// overlaps returns the pairs of committed chunks whose transactions
// overlapped.
func (c *chunkLog) overlaps() [][2][2]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][2][2]int
	for i, a := range c.committed {
		for _, b := range c.committed[i+1:] {
			if a[0] < b[1] && b[0] < a[1] {
				out = append(out, [2][2]int{a, b})
			}
		}
	}
	return out
}

func (c *chunkLog) tick() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	return c.clock
}

type trackedDB struct {
	loader.DB
	log *chunkLog
}

func (d trackedDB) Begin(ctx context.Context) (pgx.Tx, error) {
	begin := d.log.tick()
	tx, err := d.DB.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return trackedTx{Tx: tx, log: d.log, begin: begin}, nil
}

type trackedTx struct {
	pgx.Tx
	log   *chunkLog
	begin int
}

func (t trackedTx) Commit(ctx context.Context) error {
	if err := t.Tx.Commit(ctx); err != nil {
		return err
	}
	end := t.log.tick()
	t.log.mu.Lock()
	t.log.committed = append(t.log.committed, [2]int{t.begin, end})
	t.log.mu.Unlock()
	return nil
}

// runLockHolders counts the sessions other than pid holding the run lock of
// user_action in the test's schema.
func runLockHolders(t *testing.T, s *masoratest.Stack, pid int32) int64 {
	t.Helper()
	return s.Count(t, `SELECT count(*) FROM pg_locks, (SELECT hashtextextended('masora:' || current_schema() || ':user_action', 0) AS k) rk
		WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND pid <> $1
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND classid = ((rk.k >> 32) & 4294967295)::oid AND objid = (rk.k & 4294967295)::oid`, pid)
}

// TestRunLockLost ends the Postgres session holding run A's lock while A's
// first chunk is open, as a Postgres restart or a broken connection does,
// and starts run B, which takes the lock: A's open chunk commits (B waits
// for it), A stops before its next chunk with a clear error and records
// its own failure, B is not told A was abandoned (A's process is alive) and
// loads the rest; no two chunks ever load at once and the rows are exact.
func TestRunLockLost(t *testing.T) {
	s := masoratest.New(t)
	var all []string
	for h := 1; h <= 4; h++ {
		msgs, ids := events(10, now.Add(-time.Duration(h)*time.Hour))
		s.WriteObject(t, "user_action", msgs)
		all = append(all, ids...)
	}
	chunks := &chunkLog{}
	// Each instance has its pool, as two processes would.
	instance := func(db func(*pgxpool.Pool) loader.DB) *run.Runner {
		pool, err := pgxpool.New(t.Context(), s.DSN)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		d := newDeps(t, s, db(pool))
		d.Ledger = ledger.New(pool)
		return run.New(d, options(1))
	}
	b := instance(func(p *pgxpool.Pool) loader.DB { return chunks.db(p) })
	type result struct {
		outs []ledger.Run
		err  error
	}
	bDone := make(chan result, 1)
	commits := 0
	hook := func(ctx context.Context) error {
		if commits++; commits != 1 {
			return nil
		}
		var pid int32
		if err := s.Pool.QueryRow(ctx, `SELECT lock_pid FROM masora_runs WHERE status = 'running'`).Scan(&pid); err != nil {
			return err
		}
		t.Logf("ending the session holding run A's lock (backend pid %d), then starting run B", pid)
		if _, err := s.Pool.Exec(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid); err != nil {
			return err
		}
		go func() {
			outs, err := b.Run(context.WithoutCancel(ctx), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
			bDone <- result{outs, err}
		}()
		for runLockHolders(t, s, pid) == 0 { // until B holds the lock
			select {
			case r := <-bDone:
				bDone <- r
				return errors.New("run B ended before it took the lock")
			case <-time.After(20 * time.Millisecond):
			}
		}
		return nil
	}
	a := instance(func(p *pgxpool.Pool) loader.DB { return chunks.db(masoratest.BeforeCommit(p, hook)) })

	outsA, errA := a.Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
	t.Logf("run A: %v", errA)
	if !errors.Is(errA, ledger.ErrLockLost) || fault.Kind(errA) != fault.ErrBusy {
		t.Fatalf("run A: %v, want an error wrapping %v and %v", errA, ledger.ErrLockLost, fault.ErrBusy)
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "user_action", Status: "failed", ObjectsListed: 4, ObjectsNew: 4, ObjectsLoaded: 1, ChunksLoaded: 1, RowsLoaded: 10}}, outsA, counts); diff != "" {
		t.Errorf("run A mismatch (-want +got):\n%s", diff)
	}
	resB := <-bDone
	if resB.err != nil {
		t.Fatalf("run B: %v", resB.err)
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "user_action", Status: "succeeded", ObjectsListed: 4, ObjectsNew: 3, ObjectsLoaded: 3, ChunksLoaded: 3, RowsLoaded: 30}}, resB.outs, counts); diff != "" {
		t.Errorf("run B mismatch (-want +got):\n%s", diff)
	}

	if ov := chunks.overlaps(); len(ov) > 0 {
		t.Errorf("committed chunks overlapped (begin, commit ticks): %v", ov)
	}
	if diff := cmp.Diff(sorted(all), eventIDs(t, s, "user_actions")); diff != "" {
		t.Errorf("user_actions (-want +got):\n%s", diff)
	}
	if n := s.Count(t, `SELECT count(*) FROM masora_manifest`); n != 4 {
		t.Errorf("manifest has %d objects, want 4", n)
	}
	checkSummaries(t, s)
	runs, err := ledger.New(s.Pool).Runs(t.Context(), "user_action", 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]string{}
	for _, r := range runs {
		got[r.ID] = r.Status
	}
	if diff := cmp.Diff(map[int64]string{outsA[0].ID: "failed", resB.outs[0].ID: "succeeded"}, got); diff != "" {
		t.Errorf("run history statuses (-want +got):\n%s", diff)
	}
	for _, r := range runs {
		if r.ID == outsA[0].ID && !strings.Contains(r.Error, "lost its log type's run lock") {
			t.Errorf("run A's recorded error %q does not say it lost its lock", r.Error)
		}
	}
}

// proxied returns a pool to the test's schema through a fault proxy.
func proxied(t *testing.T, s *masoratest.Stack) (*pgxpool.Pool, *pgfaulttest.Proxy) {
	t.Helper()
	cfg, err := pgx.ParseConfig(s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgfaulttest.Start(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	pcfg := proxy.PoolConfig(t, s.DSN)
	pcfg.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(t.Context(), pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, proxy
}

// TestRunPostgresRestart cuts every connection of a run (its chunk's and
// its lock's) while a chunk commits and refuses new ones for a while, as a
// short Postgres restart does: the chunk is tried again, the run takes its
// lock again (nobody else ran meanwhile) and loads everything, exactly.
func TestRunPostgresRestart(t *testing.T) {
	s := masoratest.New(t)
	var all []string
	for h := 1; h <= 4; h++ {
		msgs, ids := events(10, now.Add(-time.Duration(h)*time.Hour))
		s.WriteObject(t, "user_action", msgs)
		all = append(all, ids...)
	}
	pool, proxy := proxied(t, s)
	commits := 0
	var pidBefore int32
	d := newDeps(t, s, masoratest.BeforeCommit(pool, func(ctx context.Context) error {
		if commits++; commits == 2 {
			if err := s.Pool.QueryRow(ctx, `SELECT lock_pid FROM masora_runs WHERE status = 'running'`).Scan(&pidBefore); err != nil {
				return err
			}
			t.Log("Postgres restarts: every connection of the run is cut, the next 4 are refused")
			proxy.DownFor(4)
		}
		return nil
	}))
	d.Ledger = ledger.New(pool)
	opts := options(1)
	opts.Attempts, opts.RetryBackoff = 10, 10*time.Millisecond
	outs, err := run.New(d, opts).Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
	if err != nil {
		t.Fatalf("run through a Postgres restart: %v", err)
	}
	if proxy.Refused() == 0 {
		t.Fatal("the proxy refused no connection: the restart was not played")
	}
	if diff := cmp.Diff([]ledger.Run{{LogType: "user_action", Status: "succeeded", ObjectsListed: 4, ObjectsNew: 4, ObjectsLoaded: 4, ChunksLoaded: 4, RowsLoaded: 40}}, outs, counts); diff != "" {
		t.Errorf("outcome mismatch (-want +got):\n%s", diff)
	}
	var pidAfter int32
	if err := s.Pool.QueryRow(t.Context(), `SELECT lock_pid FROM masora_runs WHERE run_id = $1`, outs[0].ID).Scan(&pidAfter); err != nil {
		t.Fatal(err)
	}
	if pidAfter == pidBefore {
		t.Errorf("the run's lock session is still backend %d: the run did not take its lock again", pidBefore)
	}
	if diff := cmp.Diff(sorted(all), eventIDs(t, s, "user_actions")); diff != "" {
		t.Errorf("user_actions (-want +got):\n%s", diff)
	}
	if n := s.Count(t, `SELECT count(*) FROM masora_manifest`); n != 4 {
		t.Errorf("manifest has %d objects, want 4", n)
	}
	checkSummaries(t, s)
}

// upOnFinish is a run log that brings Postgres back when recording the end
// of a run first fails.
type upOnFinish struct {
	*ledger.Ledger
	proxy *pgfaulttest.Proxy
}

func (l upOnFinish) FinishRun(ctx context.Context, id int64, failed int, runErr error) (*time.Time, error) {
	t, err := l.Ledger.FinishRun(ctx, id, failed, runErr)
	if err != nil {
		l.proxy.Up()
	}
	return t, err
}

// TestRunPostgresOutage keeps Postgres down longer than a chunk's attempts:
// the run fails as unavailable, loads nothing, and records its failure once
// Postgres is back; the next run loads everything.
func TestRunPostgresOutage(t *testing.T) {
	s := masoratest.New(t)
	msgs, ids := events(10, now.Add(-time.Hour))
	s.WriteObject(t, "user_action", msgs)
	pool, proxy := proxied(t, s)
	d := newDeps(t, s, masoratest.BeforeCommit(pool, func(context.Context) error {
		t.Log("Postgres goes down")
		proxy.Down()
		return nil
	}))
	d.Ledger = upOnFinish{Ledger: ledger.New(pool), proxy: proxy}
	opts := options(10)
	opts.Attempts, opts.RetryBackoff = 3, 10*time.Millisecond
	outs, err := run.New(d, opts).Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
	t.Logf("Run: %v", err)
	if fault.Kind(err) != fault.ErrUnavailable || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Fatalf("Run with Postgres down: %v, want an error of kind %v after 3 attempts", err, fault.ErrUnavailable)
	}
	if len(outs) != 1 || outs[0].FinishedAt == nil {
		t.Fatalf("outcome %+v: want the run's end recorded once Postgres came back", outs)
	}
	r, err := ledger.New(s.Pool).GetRun(t.Context(), outs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != ledger.StatusFailed || !strings.Contains(r.Error, "gave up after 3 attempts") {
		t.Errorf("recorded run: status %s, error %q; want failed with the error", r.Status, r.Error)
	}
	if n := s.Count(t, `SELECT count(*) FROM masora_manifest`) + s.Count(t, `SELECT count(*) FROM user_actions`); n != 0 {
		t.Errorf("the failed run left %d manifest entries and rows, want none", n)
	}
	rerun, _ := newRunner(t, s, s.Pool, 10)
	if _, err := rerun.Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sorted(ids), eventIDs(t, s, "user_actions")); diff != "" {
		t.Errorf("user_actions after the rerun (-want +got):\n%s", diff)
	}
}
