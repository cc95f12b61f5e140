package ledger_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
)

var hour = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func TestLock(t *testing.T) {
	p := masoratest.NewPostgres(t)
	l := ledger.New(p.Pool)
	ctx := t.Context()
	lk, err := l.Lock(ctx, []string{"user_action", "seller_action"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Lock(ctx, []string{"user_action"}, 0); !errors.Is(err, fault.ErrBusy) {
		t.Fatalf("second Lock: %v, want an error wrapping %v", err, fault.ErrBusy)
	}
	if _, err := l.Lock(ctx, []string{"seller_action"}, 300*time.Millisecond); !errors.Is(err, fault.ErrBusy) {
		t.Fatalf("second Lock with a short wait: %v, want an error wrapping %v", err, fault.ErrBusy)
	}

	// Another schema (another test, another deployment) has its own locks.
	other := ledger.New(masoratest.NewPostgres(t).Pool)
	otherLock, err := other.Lock(ctx, []string{"user_action"}, 0)
	if err != nil {
		t.Fatalf("Lock in another schema: %v", err)
	}
	other.Unlock(ctx, otherLock)

	// A waiting Lock gets it once the holder releases.
	done := make(chan error, 1)
	go func() {
		lk, err := l.Lock(ctx, []string{"user_action"}, 10*time.Second)
		if err == nil {
			l.Unlock(ctx, lk)
		}
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	l.Unlock(ctx, lk)
	if err := <-done; err != nil {
		t.Fatalf("waiting Lock: %v", err)
	}
}

// silence makes the process of a run look dead: its last heartbeat is
// older than the lease.
func silence(t *testing.T, p *masoratest.Postgres, runID int64) {
	t.Helper()
	if _, err := p.Pool.Exec(t.Context(), `UPDATE masora_runs SET heartbeat_at = now() - 2 * $2::interval WHERE run_id = $1`, runID, ledger.Lease); err != nil {
		t.Fatal(err)
	}
}

func TestRuns(t *testing.T) {
	p := masoratest.NewPostgres(t)
	l := ledger.New(p.Pool)
	ctx := t.Context()
	lk, err := l.Lock(ctx, []string{"user_action", "seller_action"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock(ctx, lk)
	start := func(logType string) ledger.Started {
		t.Helper()
		st, err := l.StartRun(ctx, lk, logType, "cli", hour, hour.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	crashed := start("user_action").Run
	if crashed.ID == 0 || crashed.StartedAt.IsZero() || crashed.Status != ledger.StatusRunning {
		t.Errorf("StartRun = %+v, want a running run with its id and start", crashed)
	}
	silence(t, p, crashed.ID)
	alive := start("user_action") // the crashed run is abandoned
	if diff := cmp.Diff(ledger.Started{Abandoned: []int64{crashed.ID}}, alive, cmpopts.IgnoreFields(ledger.Started{}, "Run"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("StartRun after a silent run (-want +got):\n%s", diff)
	}
	next := start("user_action") // alive heartbeats: it is not abandoned
	if diff := cmp.Diff(ledger.Started{Live: []int64{alive.Run.ID}}, next, cmpopts.IgnoreFields(ledger.Started{}, "Run"), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("StartRun after a live run (-want +got):\n%s", diff)
	}
	if err := l.Heartbeat(ctx, alive.Run.ID); err != nil {
		t.Errorf("Heartbeat of a running run: %v", err)
	}
	if err := l.Heartbeat(ctx, crashed.ID); !errors.Is(err, ledger.ErrLockLost) {
		t.Errorf("Heartbeat of an abandoned run: %v, want an error wrapping %v", err, ledger.ErrLockLost)
	}
	if _, err := l.FinishRun(ctx, alive.Run.ID, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.PlanRun(ctx, next.Run.ID, 10, 4); err != nil {
		t.Fatal(err)
	}
	finished, err := l.FinishRun(ctx, next.Run.ID, 1, errors.New("1 of 4 new objects could not be loaded"))
	if err != nil || finished == nil {
		t.Fatalf("FinishRun = %v, %v; want the finish time", finished, err)
	}
	if finished, err := l.FinishRun(ctx, crashed.ID, 0, nil); err != nil || finished != nil {
		t.Errorf("FinishRun of an abandoned run = %v, %v; want nil, nil", finished, err)
	}
	seller := start("seller_action").Run
	if _, err := l.FinishRun(ctx, seller.ID, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.StartRun(ctx, &ledger.Lock{}, "user_action", "cli", hour, hour); err == nil {
		t.Error("StartRun with a Lock that does not hold the log type succeeded")
	}

	runs, err := l.Runs(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		ID                  int64
		LogType, Status     string
		Listed, New, Failed int
		Finished            bool
	}
	var got []summary
	for _, r := range runs {
		got = append(got, summary{r.ID, r.LogType, r.Status, r.ObjectsListed, r.ObjectsNew, r.ObjectsFailed, r.FinishedAt != nil})
	}
	want := []summary{
		{seller.ID, "seller_action", ledger.StatusSucceeded, 0, 0, 0, true},
		{next.Run.ID, "user_action", ledger.StatusFailed, 10, 4, 1, true},
		{alive.Run.ID, "user_action", ledger.StatusSucceeded, 0, 0, 0, true},
		{crashed.ID, "user_action", ledger.StatusAbandoned, 0, 0, 0, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Runs mismatch (-want +got):\n%s", diff)
	}
	for _, r := range runs {
		wantErr := map[int64]string{next.Run.ID: "1 of 4 new objects could not be loaded", crashed.ID: "no sign of life from the process running it since"}[r.ID]
		if !strings.HasPrefix(r.Error, wantErr) || (wantErr == "") != (r.Error == "") {
			t.Errorf("run %d: error %q, want it to start with %q", r.ID, r.Error, wantErr)
		}
	}
	if runs, err := l.Runs(ctx, "seller_action", 10); err != nil || len(runs) != 1 {
		t.Errorf("Runs(seller_action) = %d runs, %v; want 1", len(runs), err)
	}
	got1, err := l.GetRun(ctx, next.Run.ID)
	if err != nil || !got1.FinishedAt.Equal(*finished) {
		t.Errorf("GetRun(%d) = %+v, %v; want it finished at %v", next.Run.ID, got1, err, finished)
	}
	if _, err := l.GetRun(ctx, 999999); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("GetRun(unknown) = %v, want %v", err, fault.ErrNotFound)
	}
}

// lockPID returns the backend pid recorded as the owner of a run.
func lockPID(t *testing.T, p *masoratest.Postgres, runID int64) int32 {
	t.Helper()
	var pid int32
	if err := p.Pool.QueryRow(t.Context(), `SELECT lock_pid FROM masora_runs WHERE run_id = $1`, runID).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// terminate ends a Postgres session, as a restart or a broken connection
// would.
func terminate(t *testing.T, p *masoratest.Postgres, pid int32) {
	t.Helper()
	var ok bool
	if err := p.Pool.QueryRow(t.Context(), `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
}

// recordChunk runs a chunk's first statement, RecordObjects, for a run,
// in a transaction that is rolled back.
func recordChunk(t *testing.T, p *masoratest.Postgres, runID int64) error {
	t.Helper()
	tx, err := p.Pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	return ledger.RecordObjects(t.Context(), tx, "user_action", runID, []ledger.Object{{Name: "o", Generation: 1, Hour: hour, Size: 1}})
}

// TestLockLost ends the session holding a run's lock: the run's lock check
// and its chunks' check say so; the lock is taken again only when it is free
// and no other run of the log type started since.
func TestLockLost(t *testing.T) {
	p := masoratest.NewPostgres(t)
	l := ledger.New(p.Pool)
	ctx := t.Context()
	lk, err := l.Lock(ctx, []string{"user_action"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock(ctx, lk)
	a, err := l.StartRun(ctx, lk, "user_action", "cli", hour, hour)
	if err != nil {
		t.Fatal(err)
	}
	id := a.Run.ID
	if err := l.CheckLock(ctx, id); err != nil {
		t.Fatalf("CheckLock of a run holding its lock: %v", err)
	}
	if err := recordChunk(t, p, id); err != nil {
		t.Fatalf("RecordObjects of a run holding its lock: %v", err)
	}

	t.Log("the lock's session ends; the lock is free: it is taken again")
	terminate(t, p, lockPID(t, p, id))
	for name, check := range map[string]func() error{"CheckLock": func() error { return l.CheckLock(ctx, id) }, "RecordObjects": func() error { return recordChunk(t, p, id) }} {
		if err := check(); !errors.Is(err, ledger.ErrLockLost) || fault.Kind(err) != fault.ErrBusy {
			t.Errorf("%s after the lock's session ended: %v, want an error wrapping %v and %v", name, err, ledger.ErrLockLost, fault.ErrBusy)
		}
	}
	if err := l.Relock(ctx, lk, id, "user_action"); err != nil {
		t.Fatalf("Relock of a free lock: %v", err)
	}
	if err := recordChunk(t, p, id); err != nil {
		t.Errorf("RecordObjects after Relock: %v", err)
	}

	t.Log("the session ends again and another instance takes the lock: no relock")
	terminate(t, p, lockPID(t, p, id))
	other := ledger.New(p.Pool)
	olk, err := other.Lock(ctx, []string{"user_action"}, 0)
	if err != nil {
		t.Fatalf("Lock by another instance after the session ended: %v", err)
	}
	if err := l.Relock(ctx, lk, id, "user_action"); !errors.Is(err, ledger.ErrLockLost) || fault.Kind(err) != fault.ErrBusy {
		t.Errorf("Relock of a lock another run holds: %v, want an error wrapping %v and %v", err, ledger.ErrLockLost, fault.ErrBusy)
	}

	t.Log("the other instance starts a run and releases the lock: still no relock, that run may have loaded what this one listed")
	b, err := other.StartRun(ctx, olk, "user_action", "cli", hour, hour)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{id}, b.Live); diff != "" {
		t.Errorf("runs still running at the other run's start (-want +got):\n%s", diff)
	}
	if _, err := other.FinishRun(ctx, b.Run.ID, 0, nil); err != nil {
		t.Fatal(err)
	}
	other.Unlock(ctx, olk)
	if err := l.Relock(ctx, lk, id, "user_action"); !errors.Is(err, ledger.ErrLockLost) {
		t.Errorf("Relock after another run started: %v, want an error wrapping %v", err, ledger.ErrLockLost)
	}
	if r, err := l.GetRun(ctx, id); err != nil || r.Status != ledger.StatusRunning {
		t.Errorf("the run that lost its lock: %+v, %v; want it still running (its process is alive), for it to record its own end", r, err)
	}
}

// TestStartRunWaitsForChunk: a run that lost its lock has a chunk in
// flight; a run starting meanwhile waits for that chunk to end.
func TestStartRunWaitsForChunk(t *testing.T) {
	p := masoratest.NewPostgres(t)
	l := ledger.New(p.Pool)
	ctx := t.Context()
	lk, err := l.Lock(ctx, []string{"user_action"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.StartRun(ctx, lk, "user_action", "cli", hour, hour)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := p.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := ledger.RecordObjects(ctx, tx, "user_action", a.Run.ID, []ledger.Object{{Name: "o", Generation: 1, Hour: hour, Size: 1}}); err != nil {
		t.Fatal(err)
	}
	terminate(t, p, lockPID(t, p, a.Run.ID))
	l.Unlock(ctx, lk)

	olk, err := l.Lock(ctx, []string{"user_action"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock(ctx, olk)
	started := make(chan error, 1)
	go func() {
		_, err := l.StartRun(ctx, olk, "user_action", "cli", hour, hour)
		started <- err
	}()
	// Wait until the start waits for the chunk's lock, then end the chunk.
	for waiting := int64(0); waiting == 0; {
		select {
		case err := <-started:
			t.Fatalf("StartRun returned (%v) while a chunk was in flight", err)
		case <-time.After(20 * time.Millisecond):
		}
		waiting = p.Count(t, `SELECT count(*) FROM pg_locks, (SELECT hashtextextended('masora-chunk:' || current_schema() || ':user_action', 0) AS k) ck
			WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND classid = ((ck.k >> 32) & 4294967295)::oid AND objid = (ck.k & 4294967295)::oid`)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-started; err != nil {
		t.Fatalf("StartRun after the chunk ended: %v", err)
	}
}

func TestPostgresDown(t *testing.T) {
	ctx := t.Context()
	down, err := pgxpool.New(ctx, "postgres://masora:pw@127.0.0.1:1/reports?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	l := ledger.New(down)
	for name, f := range map[string]func() error{
		"StartRun": func() error { _, err := l.StartRun(ctx, nil, "user_action", "cli", hour, hour); return err },
		"Lock":     func() error { _, err := l.Lock(ctx, []string{"user_action"}, 0); return err },
		"Loaded":   func() error { _, err := l.Loaded(ctx, "user_action", hour, hour); return err },
		"Runs":     func() error { _, err := l.Runs(ctx, "", 1); return err },
	} {
		if err := f(); !errors.Is(err, fault.ErrUnavailable) {
			t.Errorf("%s with Postgres down: %v, want an error wrapping %v", name, err, fault.ErrUnavailable)
		}
	}
}
