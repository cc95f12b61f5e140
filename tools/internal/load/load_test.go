package load_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/tools/internal/load"
	"github.com/ore-masora/pipeline/tools/internal/localstack"
)

// TestLoadRun is a small load run on the local stack: a few seconds at a
// low rate, one short floor drain. It checks that the run passes the
// invariant checker (Run fails otherwise) and that the report has every
// figure, never what the figures are.
func TestLoadRun(t *testing.T) {
	env := stacktest.Load(t)
	cfg := load.Config{Rate: 40, Duration: 3 * time.Second, Window: time.Second, Cadence: 3 * time.Second,
		Settle: 2 * time.Minute, Visibility: 10 * time.Second, FloorMessages: 200, FloorRounds: 1, Seed: 11}
	queueURL, dlqURL := stacktest.NewQueue(t, env, stacktest.VisibilityTimeout(cfg.Visibility), stacktest.MaxReceiveCount(10))
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := localstack.FindRoot(cwd)
	if err != nil {
		t.Fatal(err)
	}
	emulators, err := load.StackProcesses(t.Context(), filepath.Dir(env.Path))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := os.Create(filepath.Join(t.TempDir(), "services.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	rep, err := load.Run(t.Context(), load.Options{
		Config: cfg, Stack: env, Root: root, Emulators: emulators, Out: t.Output(), Logs: logs,
		QueueURL: queueURL, DLQURL: dlqURL, Bucket: stacktest.NewBucket(t, env), DatabaseURL: stacktest.PostgresSchema(t, env),
	})
	if err != nil {
		b, _ := os.ReadFile(logs.Name())
		t.Fatalf("load run: %v\nservices' output (tail):\n%s", err, tail(b, 8000))
	}
	var out strings.Builder
	rep.Write(&out)
	t.Log(out.String())

	const events = 120 // 40/s for 3 s
	if rep.Published.Distinct != events || !strings.HasSuffix(rep.Invariant, " 0 violations") {
		t.Errorf("published %d distinct events, invariants %q; want %d and no violation", rep.Published.Distinct, rep.Invariant, events)
	}
	if len(rep.Stages) != 6 {
		t.Fatalf("%d freshness stages, want 6: %+v", len(rep.Stages), rep.Stages)
	}
	for _, s := range rep.Stages {
		if s.Events != events {
			t.Errorf("stage %q timed %d events, want %d", s.Stage, s.Events, events)
		}
	}
	if rep.Ore.Batches == 0 || rep.Ore.Rows != events || rep.Masora.Rows != events || rep.Masora.EmptyRunSeconds <= 0 {
		t.Errorf("Ore %+v, Masora %+v: want batches, %d rows each and an empty run", rep.Ore, rep.Masora, events)
	}
	if len(rep.DrainFloor) != 1 || rep.DrainFloor[0].OrePerSec <= 0 || rep.DrainFloor[0].FloorPerSec <= 0 || rep.CopyFloor.FloorPerSec <= 0 || rep.CopyFloor.MasoraPerSec <= 0 {
		t.Errorf("floors: drain %+v, copy %+v: want both rates of each", rep.DrainFloor, rep.CopyFloor)
	}
	names := map[string]bool{}
	for _, p := range rep.Processes {
		names[p.Name] = p.HWMMiB > 0
	}
	for _, want := range []string{"Ore (poll mode)", "Masora (serve)", "fauxqs (SQS emulator)", "fake-gcs-server (GCS emulator)", "BigQuery emulator"} {
		if !names[want] {
			t.Errorf("no memory figure of %s: %+v", want, rep.Processes)
		}
	}
	if rep.Traffic["sqs"]["SendMessageBatch"].Requests == 0 || rep.Traffic["gcs"]["insert (class A)"].Requests == 0 || rep.Traffic["bigquery"]["jobs.insert"].Requests == 0 {
		t.Errorf("the proxies counted no sends, uploads or queries: %+v", rep.Traffic)
	}
	if len(rep.Bottlenecks) == 0 {
		t.Error("no bottleneck ranking")
	}
	if err := rep.Figures().Validate(); err != nil {
		t.Errorf("figures for the cost model: %v", err)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
