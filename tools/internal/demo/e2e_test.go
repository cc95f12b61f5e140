package demo_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/tools/internal/demo"
	"github.com/ore-masora/pipeline/tools/internal/localstack"
)

// testWriter logs what the demo says and keeps it for checks.
type testWriter struct {
	t   *testing.T
	mu  sync.Mutex
	out strings.Builder
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.Write(p)
}

// TestEndToEnd publishes a small stream through the real pipeline on the
// local stack — producer → fauxqs → Ore poll mode → fake-gcs-server →
// bigquery-emulator → Masora /run → Postgres — and checks the exact outcome
// against numbers computed from the published events alone.
func TestEndToEnd(t *testing.T) {
	env := stacktest.Load(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	queueURL, dlqURL := stacktest.NewQueue(t, env, stacktest.VisibilityTimeout(10*time.Second))
	target := demo.Target{
		"AWS_REGION":            env.AWSRegion,
		"AWS_ACCESS_KEY_ID":     "test",
		"AWS_SECRET_ACCESS_KEY": "test",
		"SQS_ENDPOINT":          env.SQSEndpoint,
		"SQS_QUEUE_URL":         queueURL,
		"STORAGE_EMULATOR_HOST": env.StorageEmulatorHost,
		"GCS_BUCKET":            stacktest.NewBucket(t, env),
		"GCS_PREFIX":            "e2e",
		"BIGQUERY_ENDPOINT":     env.BigQueryEndpoint,
		"BIGQUERY_PROJECT":      env.BigQueryProject,
		"BIGQUERY_DATASET":      env.BigQueryDataset,
		"DATABASE_URL":          stacktest.PostgresSchema(t, env),
	}
	reg := schema.MustLoad()
	plan, err := demo.Generate(reg, demo.GenerateOptions{Events: 400, Seed: 7, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	root, err := localstack.FindRoot(cwd)
	if err != nil {
		t.Fatal(err)
	}
	said := &testWriter{t: t}
	res, err := demo.Run(ctx, demo.Options{
		Root: root, BinDir: t.TempDir(), Target: target, Plan: plan,
		Progress: said, Logs: logFile(t), KeepMasora: true,
	})
	if err != nil {
		t.Fatalf("demo.Run: %v", err)
	}
	// A person watching sees publishing and draining move, and their totals.
	published := len(plan.Valid) + len(plan.Duplicates) + len(plan.Bad)
	for _, want := range []string{
		fmt.Sprintf("published: finished: %d/%d done, 0 failed", published, published),
		fmt.Sprintf("messages handled by ore: finished: %d/%d done, 0 failed", published, published),
	} {
		if !strings.Contains(said.out.String(), want) {
			t.Errorf("the demo's progress lacks %q:\n%s", want, said.out.String())
		}
	}
	t.Cleanup(res.Masora.Stop)
	checkStatusPage(t, res.StatusPage)

	// Every valid event is in its table exactly once (the primary key makes
	// "at most once" structural; the id sets make it "exactly").
	want := map[string][]string{}
	for _, m := range plan.Valid {
		want[m.LogType] = append(want[m.LogType], m.EventID)
	}
	conn, err := pgx.Connect(ctx, target["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for lt, ids := range want {
		sort.Strings(ids)
		table := must(reg.Latest(lt)).Table
		rows, err := conn.Query(ctx, "SELECT event_id::text FROM "+pgx.Identifier{table}.Sanitize()+" ORDER BY 1")
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ids, got); diff != "" {
			t.Errorf("%s event ids in Postgres (-published +loaded):\n%s", table, diff)
		}
	}
	if len(plan.Duplicates) == 0 {
		t.Fatal("the plan has no duplicates; the test would not check deduplication")
	}

	// Every bad message is in quarantine exactly once, with a reason and its
	// original body.
	gotBad := map[string]int{}
	for _, q := range res.Quarantine {
		if q.Reason == "" {
			t.Errorf("quarantined message %s has no reason", q.MessageID)
		}
		gotBad[q.Body]++
	}
	for _, m := range plan.Bad {
		if n := gotBad[string(m.Body)]; n != 1 {
			t.Errorf("bad message (%s) is %d times in quarantine, want once", m.Bad, n)
		}
	}
	if len(res.Quarantine) != len(plan.Bad) {
		t.Errorf("%d messages in quarantine, want %d", len(res.Quarantine), len(plan.Bad))
	}

	// The hourly summaries equal a count made from the published events.
	if diff := cmp.Diff(plan.Summary, res.Report.Summaries); diff != "" {
		t.Errorf("hourly summaries (-from published events +in Postgres):\n%s", diff)
	}

	// A second run changes nothing.
	for _, o := range res.SecondRun {
		if o.ObjectsLoaded != 0 || o.Rows != 0 || o.Status == "failed" {
			t.Errorf("second run of %s: %+v, want a successful run that loads nothing", o.LogType, o)
		}
	}
	if diff := cmp.Diff(res.Report, res.ReportAfterSecondRun); diff != "" {
		t.Errorf("second run changed the report (-first +second):\n%s", diff)
	}
	if problems := res.Check(plan); len(problems) > 0 {
		t.Errorf("Check: %v", problems)
	}

	// Nothing went to the DLQ: every message was either loaded or quarantined.
	out, err := stacktest.SQSClient(t, env).GetQueueAttributes(ctx, dlqAttrs(dlqURL))
	if err != nil {
		t.Fatal(err)
	}
	if n := out.Attributes["ApproximateNumberOfMessages"]; n != "0" {
		t.Errorf("%s messages in the DLQ, want 0", n)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// logFile keeps the services' logs in a file that the test names on failure.
func logFile(t *testing.T) *os.File {
	f, err := os.Create(filepath.Join(t.TempDir(), "services.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(f.Name())
			t.Logf("services' logs:\n%s", tailBytes(b, 8000))
		}
		f.Close()
	})
	return f
}

func tailBytes(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[len(b)-n:]
}

func dlqAttrs(url string) *sqs.GetQueueAttributesInput {
	return &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	}
}
