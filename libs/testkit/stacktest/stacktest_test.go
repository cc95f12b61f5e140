package stacktest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/testkit/stackctl"
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*[a-z0-9]$`)

func TestUniqueName(t *testing.T) {
	tests := []struct{ prefix, wantStart string }{
		{"q", "q_testuniquename_"},
		{"Ore Events!", "ore_events_testuniquename_"},
		{"9lives", "t_9lives_"},
		{"google", "g00gle_"},
		{strings.Repeat("x", 100), strings.Repeat("x", 54) + "_"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		got := UniqueName(t, tt.prefix)
		if len(got) > 63 || !nameRE.MatchString(got) || strings.Contains(got, "goog") {
			t.Errorf("UniqueName(%q) = %q: want [a-z][a-z0-9_]*, at most 63 characters, no goog", tt.prefix, got)
		}
		if !strings.HasPrefix(got, tt.wantStart) {
			t.Errorf("UniqueName(%q) = %q, want prefix %q", tt.prefix, got, tt.wantStart)
		}
		if seen[got] {
			t.Errorf("UniqueName(%q) = %q twice", tt.prefix, got)
		}
		seen[got] = true
	}
	if a, b := UniqueName(t, "x"), UniqueName(t, "x"); a == b {
		t.Errorf("two calls gave the same name %q", a)
	}
}

func TestLoadSkipsWithoutStack(t *testing.T) {
	t.Setenv(EnvFileVar, filepath.Join(t.TempDir(), "missing-env"))
	t.Setenv(RequiredVar, "")
	var ran bool
	t.Run("load", func(t *testing.T) {
		Load(t)
		ran = true
	})
	if ran {
		t.Error("Load returned without an env file; want the test skipped")
	}
}

func TestLoadReadsEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env")
	content := `AWS_REGION=us-east-1
SQS_ENDPOINT=http://127.0.0.1:1
STORAGE_EMULATOR_HOST=http://127.0.0.1:2
BIGQUERY_ENDPOINT=http://127.0.0.1:3
BIGQUERY_PROJECT=local-project
DATABASE_URL='postgres://postgres@127.0.0.1:4/postgres?sslmode=disable'
LAMBDA_RIE_BIN=/bin/rie
`
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvFileVar, path)
	if testing.Short() {
		t.Skip("Load always skips with -short")
	}
	got := Load(t)
	want := Env{
		Path: path, AWSRegion: "us-east-1", SQSEndpoint: "http://127.0.0.1:1",
		StorageEmulatorHost: "http://127.0.0.1:2", BigQueryEndpoint: "http://127.0.0.1:3",
		BigQueryProject: "local-project", DatabaseURL: "postgres://postgres@127.0.0.1:4/postgres?sslmode=disable",
		LambdaRIEBin: "/bin/rie",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

func TestWithSearchPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5432/postgres?search_path=s1&sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db?search_path=s1"},
		{"host=h user=u", "host=h user=u search_path=s1"},
	}
	for _, tt := range tests {
		got, err := withSearchPath(tt.in, "s1")
		if err != nil || got != tt.want {
			t.Errorf("withSearchPath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// The tests below need the running stack.

func TestDefaultResources(t *testing.T) {
	env := Load(t)
	ctx := t.Context()

	attrs, err := SQSClient(t, env).GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(env.SQSQueueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("default queue %s: %v", env.SQSQueueURL, err)
	}
	if rp := attrs.Attributes["RedrivePolicy"]; !strings.Contains(rp, "ore-events-dlq") || !strings.Contains(rp, "3") {
		t.Errorf("default queue RedrivePolicy = %q, want ore-events-dlq after 3 receives", rp)
	}
	if vt := attrs.Attributes["VisibilityTimeout"]; vt != "30" {
		t.Errorf("default queue VisibilityTimeout = %q, want 30", vt)
	}

	if _, err := StorageClient(t, env).Bucket(env.GCSBucket).Attrs(ctx); err != nil {
		t.Errorf("default bucket %s: %v", env.GCSBucket, err)
	}

	url := fmt.Sprintf("%s/bigquery/v2/projects/%s/datasets/%s", env.BigQueryEndpoint, env.BigQueryProject, env.BigQueryDataset)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: HTTP %d: %s", url, resp.StatusCode, body)
	}

	if st, err := os.Stat(env.LambdaRIEBin); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("LAMBDA_RIE_BIN %q is not an executable: %v", env.LambdaRIEBin, err)
	}
}

func TestNewQueue(t *testing.T) {
	env := Load(t)
	client := SQSClient(t, env)
	var queueURL, dlqURL string

	t.Run("use", func(t *testing.T) {
		queueURL, dlqURL = NewQueue(t, env, MaxReceiveCount(1), VisibilityTimeout(3*time.Second))
		ctx := t.Context()
		attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(queueURL),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
		})
		if err != nil {
			t.Fatalf("GetQueueAttributes: %v", err)
		}
		if got := attrs.Attributes["VisibilityTimeout"]; got != "3" {
			t.Errorf("VisibilityTimeout = %q, want 3", got)
		}
		if !strings.Contains(attrs.Attributes["RedrivePolicy"], `"maxReceiveCount":"1"`) &&
			!strings.Contains(attrs.Attributes["RedrivePolicy"], `"maxReceiveCount":1`) {
			t.Errorf("RedrivePolicy = %q, want maxReceiveCount 1", attrs.Attributes["RedrivePolicy"])
		}

		// Received once and not deleted: the next receive after the visibility timeout moves
		// it to the DLQ.
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String("poison")}); err != nil {
			t.Fatalf("SendMessage: %v", err)
		}
		first := receive(ctx, t, client, queueURL, 5)
		if len(first) != 1 || aws.ToString(first[0].Body) != "poison" {
			t.Fatalf("first receive got %d messages, want the one sent", len(first))
		}
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if again := receive(ctx, t, client, queueURL, 1); len(again) > 0 {
				continue // still redelivered; maxReceiveCount not yet enforced on this receive
			}
			if dead := receive(ctx, t, client, dlqURL, 1); len(dead) == 1 {
				if got := aws.ToString(dead[0].Body); got != "poison" {
					t.Errorf("DLQ message body = %q, want poison", got)
				}
				return
			}
		}
		t.Errorf("message not in DLQ %s within 20s", dlqURL)
	})

	// The subtest's cleanups have run: both queues are gone.
	for _, u := range []string{queueURL, dlqURL} {
		_, err := client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(u)})
		var gone *sqstypes.QueueDoesNotExist
		if !errors.As(err, &gone) {
			t.Errorf("queue %s after cleanup: err = %v, want QueueDoesNotExist", u, err)
		}
	}
}

func receive(ctx context.Context, t *testing.T, client *sqs.Client, queueURL string, wait int32) []sqstypes.Message {
	t.Helper()
	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: wait,
	})
	if err != nil {
		t.Fatalf("ReceiveMessage %s: %v", queueURL, err)
	}
	return out.Messages
}

func TestNewBucket(t *testing.T) {
	env := Load(t)
	client := StorageClient(t, env)
	var bucket string

	t.Run("use", func(t *testing.T) {
		bucket = NewBucket(t, env)
		ctx := t.Context()
		w := client.Bucket(bucket).Object("dir/hello.txt").If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
		if _, err := io.WriteString(w, "hello"); err != nil {
			t.Fatalf("write: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("close writer: %v", err)
		}
		r, err := client.Bucket(bucket).Object("dir/hello.txt").NewReader(ctx)
		if err != nil {
			t.Fatalf("NewReader: %v", err)
		}
		defer r.Close()
		got, err := io.ReadAll(r)
		if err != nil || string(got) != "hello" {
			t.Errorf("read back %q, %v; want hello", got, err)
		}
	})

	if _, err := client.Bucket(bucket).Attrs(t.Context()); !errors.Is(err, storage.ErrBucketNotExist) {
		t.Errorf("bucket %s after cleanup: err = %v, want ErrBucketNotExist", bucket, err)
	}
}

func TestPostgresSchema(t *testing.T) {
	env := Load(t)
	var schema string

	t.Run("use", func(t *testing.T) {
		dsn := PostgresSchema(t, env)
		ctx := t.Context()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
			t.Fatalf("current_schema: %v", err)
		}
		if !nameRE.MatchString(schema) || !strings.HasPrefix(schema, "s_testpostgresschema_use_") {
			t.Errorf("current_schema() = %q, want the fresh s_testpostgresschema_use_* schema", schema)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)"); err != nil {
			t.Fatalf("create table in %s: %v", schema, err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema, "t"}.Sanitize()).Scan(&n); err != nil || n != 1 {
			t.Errorf("count = %d, %v; want 1", n, err)
		}
	})

	conn, err := pgx.Connect(t.Context(), env.DatabaseURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("schema %s still exists after cleanup", schema)
	}
}

// TestControl reads the running stack's components through Control without disturbing them:
// Start of a running component only waits for it.
func TestControl(t *testing.T) {
	ctl := Control(t)
	before, err := ctl.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 4 {
		t.Fatalf("Status lists %d components, want 4: %+v", len(before), before)
	}
	for _, c := range before {
		if !c.Healthy() {
			t.Errorf("%s unhealthy: %v", c.Name, c.Err)
		}
	}
	if err := ctl.Start(t.Context(), stackctl.GCS); err != nil {
		t.Fatalf("Start of a running component: %v", err)
	}
	after, err := ctl.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(pids(before), pids(after)); diff != "" {
		t.Errorf("PIDs changed by Start of a running component (-before +after):\n%s", diff)
	}
}

func pids(list []stackctl.ComponentStatus) map[string]int {
	m := map[string]int{}
	for _, c := range list {
		m[c.Name] = c.PID
	}
	return m
}
