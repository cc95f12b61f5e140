package ledger_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
	release, err := l.Lock(ctx, []string{"user_action", "seller_action"}, 0)
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
	releaseOther, err := other.Lock(ctx, []string{"user_action"}, 0)
	if err != nil {
		t.Fatalf("Lock in another schema: %v", err)
	}
	releaseOther(ctx)

	// A waiting Lock gets it once the holder releases.
	done := make(chan error, 1)
	go func() {
		release, err := l.Lock(ctx, []string{"user_action"}, 10*time.Second)
		if err == nil {
			release(ctx)
		}
		done <- err
	}()
	time.Sleep(500 * time.Millisecond)
	release(ctx)
	if err := <-done; err != nil {
		t.Fatalf("waiting Lock: %v", err)
	}
}

func TestRuns(t *testing.T) {
	p := masoratest.NewPostgres(t)
	l := ledger.New(p.Pool)
	ctx := t.Context()
	crashed, err := l.StartRun(ctx, "user_action", "cli", hour, hour.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if crashed.ID == 0 || crashed.StartedAt.IsZero() || crashed.Status != ledger.StatusRunning {
		t.Errorf("StartRun = %+v, want a running run with its id and start", crashed)
	}
	next, err := l.StartRun(ctx, "user_action", "cli", hour, hour.Add(time.Hour)) // the crashed run is abandoned
	if err != nil {
		t.Fatal(err)
	}
	if err := l.PlanRun(ctx, next.ID, 10, 4); err != nil {
		t.Fatal(err)
	}
	finished, err := l.FinishRun(ctx, next.ID, 1, errors.New("1 of 4 new objects could not be loaded"))
	if err != nil || finished == nil {
		t.Fatalf("FinishRun = %v, %v; want the finish time", finished, err)
	}
	if finished, err := l.FinishRun(ctx, crashed.ID, 0, nil); err != nil || finished != nil {
		t.Errorf("FinishRun of an abandoned run = %v, %v; want nil, nil", finished, err)
	}
	seller, err := l.StartRun(ctx, "seller_action", "schedule", hour, hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.FinishRun(ctx, seller.ID, 0, nil); err != nil {
		t.Fatal(err)
	}

	runs, err := l.Runs(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		ID                   int64
		LogType, Status, Err string
		Listed, New, Failed  int
		Finished             bool
	}
	var got []summary
	for _, r := range runs {
		got = append(got, summary{r.ID, r.LogType, r.Status, r.Error, r.ObjectsListed, r.ObjectsNew, r.ObjectsFailed, r.FinishedAt != nil})
	}
	want := []summary{
		{seller.ID, "seller_action", ledger.StatusSucceeded, "", 0, 0, 0, true},
		{next.ID, "user_action", ledger.StatusFailed, "1 of 4 new objects could not be loaded", 10, 4, 1, true},
		{crashed.ID, "user_action", ledger.StatusAbandoned, "the process running it stopped before it finished", 0, 0, 0, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Runs mismatch (-want +got):\n%s", diff)
	}
	if runs, err := l.Runs(ctx, "seller_action", 10); err != nil || len(runs) != 1 {
		t.Errorf("Runs(seller_action) = %d runs, %v; want 1", len(runs), err)
	}
	got1, err := l.GetRun(ctx, next.ID)
	if err != nil || !got1.FinishedAt.Equal(*finished) {
		t.Errorf("GetRun(%d) = %+v, %v; want it finished at %v", next.ID, got1, err, finished)
	}
	if _, err := l.GetRun(ctx, 999999); !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("GetRun(unknown) = %v, want %v", err, fault.ErrNotFound)
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
		"StartRun": func() error { _, err := l.StartRun(ctx, "user_action", "cli", hour, hour); return err },
		"Lock":     func() error { _, err := l.Lock(ctx, []string{"user_action"}, 0); return err },
		"Loaded":   func() error { _, err := l.Loaded(ctx, "user_action", hour, hour); return err },
		"Runs":     func() error { _, err := l.Runs(ctx, "", 1); return err },
	} {
		if err := f(); !errors.Is(err, fault.ErrUnavailable) {
			t.Errorf("%s with Postgres down: %v, want an error wrapping %v", name, err, fault.ErrUnavailable)
		}
	}
}
