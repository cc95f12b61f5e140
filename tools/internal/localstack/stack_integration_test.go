package localstack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/ore-masora/pipeline/libs/testkit/stackctl"
	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
	"github.com/ore-masora/pipeline/tools/internal/localstack"
	"github.com/ore-masora/pipeline/tools/internal/provision"
)

// toolchain returns the stack's programs. Without STACK_REQUIRED=1 it skips the test when
// they are not installed yet, instead of spending minutes building them.
func toolchain(t *testing.T, root string) provision.Toolchain {
	t.Helper()
	binDir, err := provision.BinDir(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	opts := provision.Options{Root: root, BinDir: binDir, CheckOnly: os.Getenv("STACK_REQUIRED") != "1"}
	tc, err := provision.Ensure(t.Context(), opts)
	if errors.Is(err, provision.ErrMissing) {
		t.Skipf("stack programs missing: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

// TestLifecycle starts a second, private stack in a temp STACK_DIR and checks up (fresh,
// reused), each component killed and started again in place with its data, a graceful
// restart, a PostgreSQL restarted by hand with pg_ctl, up after a crash restarting only the
// dead component, status and down. The steps share one stack, so they run in order.
func TestLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("starts emulators; skipped with -short")
	}
	cwd, _ := os.Getwd()
	root, err := localstack.FindRoot(cwd)
	if err != nil {
		t.Fatal(err)
	}
	tc := toolchain(t, root)
	layout := localstack.Layout{Root: root, Dir: t.TempDir()}
	st := localstack.New(localstack.Options{
		Layout: layout, Toolchain: tc,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	ctl := st.Control()
	t.Cleanup(func() {
		if err := ctl.Down(context.Background()); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})
	ctx := t.Context()

	res, err := st.Up(ctx)
	if err != nil || !res.Fresh {
		t.Fatalf("first Up = %+v, %v; want a fresh start", res, err)
	}
	vars := map[string]string{}
	for _, v := range res.Vars {
		vars[v.Key] = v.Value
	}
	for _, k := range []string{stackenv.KeyAWSRegion, stackenv.KeySQSEndpoint, stackenv.KeySQSQueueURL,
		stackenv.KeySQSDLQURL, stackenv.KeyStorageEmulator, stackenv.KeyGCSBucket, stackenv.KeyBigQueryEndpoint,
		stackenv.KeyBigQueryProject, stackenv.KeyBigQueryDataset, stackenv.KeyDatabaseURL, stackenv.KeyLambdaRIEBin} {
		if vars[k] == "" {
			t.Errorf("env lacks %s", k)
		}
	}
	env, err := stackenv.Read(layout.EnvPath())
	if err != nil {
		t.Fatalf("env file: %v", err)
	}

	if res, err := st.Up(ctx); err != nil || res.Fresh || len(res.Restarted) > 0 {
		t.Fatalf("second Up = %+v, %v; want the running stack reused as it is", res, err)
	}
	first := status(t, ctl)
	for _, c := range first {
		if !c.Healthy() {
			t.Errorf("%s unhealthy: %v", c.Name, c.Err)
		}
	}

	// Each component: write data, kill it, start it in place, find the data (or, for fauxqs,
	// the documented loss and the recreated default queues).
	t.Run("gcs", func(t *testing.T) {
		client, err := stackenv.StorageClient(ctx, env.StorageEmulatorHost)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		obj := client.Bucket(env.GCSBucket).Object("restart/a.txt")
		gen := writeNew(t, obj, "before the crash")

		crashAndStart(t, ctl, stackctl.GCS)

		attrs, err := obj.Attrs(ctx)
		if err != nil {
			t.Fatalf("object after restart: %v", err)
		}
		if attrs.Generation != gen {
			t.Errorf("generation after restart = %d, want %d", attrs.Generation, gen)
		}
		if got := read(t, obj.Generation(gen)); got != "before the crash" {
			t.Errorf("content of generation %d after restart = %q", gen, got)
		}
		w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
		io.WriteString(w, "again")
		var gerr *googleapi.Error
		if err := w.Close(); !errors.As(err, &gerr) || gerr.Code != http.StatusPreconditionFailed {
			t.Errorf("DoesNotExist write over a kept object: %v, want 412", err)
		}
		if gen2 := writeNew(t, client.Bucket(env.GCSBucket).Object("restart/b.txt"), "after"); gen2 <= gen {
			t.Errorf("generation of a later object %d, want more than %d", gen2, gen)
		}
	})

	t.Run("bigquery", func(t *testing.T) {
		client, err := bigquery.NewClient(ctx, env.BigQueryProject, option.WithEndpoint(env.BigQueryEndpoint), option.WithoutAuthentication())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		ds := client.Dataset("restart_check")
		if err := ds.Create(ctx, &bigquery.DatasetMetadata{Location: stackenv.DatasetLocation}); err != nil {
			t.Fatal(err)
		}
		type row struct{ N int64 }
		table := ds.Table("numbers")
		if err := table.Create(ctx, &bigquery.TableMetadata{Schema: bigquery.Schema{{Name: "N", Type: bigquery.IntegerFieldType}}}); err != nil {
			t.Fatal(err)
		}
		if err := table.Inserter().Put(ctx, []row{{1}, {2}, {3}}); err != nil {
			t.Fatal(err)
		}

		crashAndStart(t, ctl, stackctl.BigQuery)

		it, err := client.Query("SELECT SUM(N) AS N FROM `" + env.BigQueryProject + ".restart_check.numbers`").Read(ctx)
		if err != nil {
			t.Fatalf("query the table after restart: %v", err)
		}
		var got row
		if err := it.Next(&got); err != nil {
			t.Fatal(err)
		}
		if got.N != 6 {
			t.Errorf("SUM(N) after restart = %d, want 6", got.N)
		}
		if _, err := client.Dataset(env.BigQueryDataset).Metadata(ctx); err != nil {
			t.Errorf("default dataset after restart: %v", err)
		}
	})

	t.Run("postgres", func(t *testing.T) {
		execSQL := func(sql string) {
			t.Helper()
			conn, err := pgx.Connect(ctx, env.DatabaseURL)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			if _, err := conn.Exec(ctx, sql); err != nil {
				t.Fatal(err)
			}
		}
		execSQL("CREATE TABLE restart_check (n int); INSERT INTO restart_check VALUES (1), (2), (3)")
		crashAndStart(t, ctl, stackctl.Postgres)
		if got := sumRows(t, env.DatabaseURL); got != 6 {
			t.Errorf("rows after kill and start: sum %d, want 6", got)
		}

		before := status(t, ctl)[stackctl.Postgres]
		if err := ctl.Restart(ctx, stackctl.Postgres); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		after := status(t, ctl)[stackctl.Postgres]
		if !after.Healthy() || after.PID == before.PID || after.Port != before.Port {
			t.Errorf("after Restart: healthy %v, pid %d (was %d), port %d (was %d)", after.Healthy(), after.PID, before.PID, after.Port, before.Port)
		}

		// An operator restarts the server by hand: the stack must still find it.
		pgctl(t, after.Component, "restart", "-D", filepath.Join(after.DataDir, "data"), "-m", "fast", "-w", "-t", "60")
		byHand := status(t, ctl)[stackctl.Postgres]
		if !byHand.Healthy() || byHand.PID == after.PID {
			t.Errorf("after pg_ctl restart: healthy %v (%v), pid %d (was %d)", byHand.Healthy(), byHand.Err, byHand.PID, after.PID)
		}
		if got := sumRows(t, env.DatabaseURL); got != 6 {
			t.Errorf("rows after pg_ctl restart: sum %d, want 6", got)
		}
		crashAndStart(t, ctl, stackctl.Postgres)
		if got := sumRows(t, env.DatabaseURL); got != 6 {
			t.Errorf("rows after a kill of the server pg_ctl started: sum %d, want 6", got)
		}
	})

	t.Run("sqs", func(t *testing.T) {
		client := stackenv.SQSClient(env.SQSEndpoint)
		q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("restart-check")})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range []*string{q.QueueUrl, aws.String(env.SQSQueueURL)} {
			if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: u, MessageBody: aws.String("lost")}); err != nil {
				t.Fatal(err)
			}
		}

		crashAndStart(t, ctl, stackctl.SQS)

		// Documented: fauxqs keeps everything in memory. Start recreates the default queue and
		// its DLQ at the same URLs, empty; other queues are gone.
		var missing *sqstypes.QueueDoesNotExist
		if _, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("restart-check")}); !errors.As(err, &missing) {
			t.Errorf("GetQueueUrl of a test queue after restart: %v, want QueueDoesNotExist", err)
		}
		for name, want := range map[string]string{stackenv.QueueName: env.SQSQueueURL, stackenv.DLQName: env.SQSDLQURL} {
			got, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
			if err != nil || aws.ToString(got.QueueUrl) != want {
				t.Errorf("default queue %s after restart: %v, %v; want %s", name, got, err, want)
			}
		}
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(env.SQSQueueURL), WaitTimeSeconds: 1})
		if err != nil || len(out.Messages) != 0 {
			t.Errorf("default queue after restart: %d messages, %v; want it empty", len(out.Messages), err)
		}
		if err := ctl.Stop(ctx, stackctl.SQS); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := ctl.Stop(ctx, stackctl.SQS); err != nil {
			t.Errorf("Stop of a stopped component: %v, want nothing done", err)
		}
		if err := ctl.Start(ctx, stackctl.SQS); err != nil {
			t.Fatalf("Start after Stop: %v", err)
		}
	})

	t.Run("up restarts only the dead", func(t *testing.T) {
		before := status(t, ctl)
		if err := ctl.Kill(ctx, stackctl.GCS); err != nil {
			t.Fatal(err)
		}
		if c := status(t, ctl)[stackctl.GCS]; c.Running {
			t.Fatalf("gcs still running after Kill: pid %d", c.PID)
		}
		res, err := st.Up(ctx)
		if err != nil {
			t.Fatalf("Up: %v", err)
		}
		if res.Fresh || !slices.Equal(res.Restarted, []string{stackctl.GCS}) {
			t.Errorf("Up = fresh %v, restarted %v; want only gcs restarted in place", res.Fresh, res.Restarted)
		}
		after := status(t, ctl)
		for name, c := range after {
			if !c.Healthy() || c.Port != before[name].Port {
				t.Errorf("%s after Up: healthy %v (%v), port %d (was %d)", name, c.Healthy(), c.Err, c.Port, before[name].Port)
			}
			if samePID := c.PID == before[name].PID; samePID != (name != stackctl.GCS) {
				t.Errorf("%s after Up: pid %d, was %d", name, c.PID, before[name].PID)
			}
		}
		got, err := stackenv.Read(layout.EnvPath())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(env, got); diff != "" {
			t.Errorf("env file after Up (-before +after):\n%s", diff)
		}
	})

	last := status(t, ctl)
	if err := ctl.Down(ctx); err != nil {
		t.Fatalf("Down: %v", err)
	}
	for _, c := range last {
		if c.PID > 0 && syscall.Kill(c.PID, 0) == nil {
			if b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.PID), "stat")); len(b) > 0 && !isZombie(b) {
				t.Errorf("%s pid %d still running after Down", c.Name, c.PID)
			}
		}
	}
	for _, p := range []string{last[stackctl.Postgres].DataDir, stackctl.DataDir(layout.Dir), layout.StatePath(), layout.EnvPath()} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s after Down: %v, want it removed", p, err)
		}
	}
	if _, err := ctl.Status(ctx); !errors.Is(err, stackctl.ErrNoStack) {
		t.Errorf("Status after Down: %v, want ErrNoStack", err)
	}
}

// crashAndStart kills the component, checks that status sees it stopped, starts it in place
// and checks that it answers on the same port under a new PID.
func crashAndStart(t *testing.T, ctl *stackctl.Stack, name string) {
	t.Helper()
	before := status(t, ctl)[name]
	if err := ctl.Kill(t.Context(), name); err != nil {
		t.Fatalf("Kill %s: %v", name, err)
	}
	if c := status(t, ctl)[name]; c.Running || c.Healthy() {
		t.Fatalf("%s after Kill: running %v, healthy %v", name, c.Running, c.Healthy())
	}
	if err := ctl.Start(t.Context(), name); err != nil {
		t.Fatalf("Start %s: %v", name, err)
	}
	after := status(t, ctl)[name]
	if !after.Healthy() || after.Port != before.Port || after.PID == before.PID {
		t.Fatalf("%s after Start: healthy %v (%v), port %d (was %d), pid %d (was %d)",
			name, after.Healthy(), after.Err, after.Port, before.Port, after.PID, before.PID)
	}
}

func writeNew(t *testing.T, obj *storage.ObjectHandle, content string) int64 {
	t.Helper()
	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(t.Context())
	if _, err := io.WriteString(w, content); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("write %s: %v", obj.ObjectName(), err)
	}
	if w.Attrs().Generation == 0 {
		t.Fatalf("%s written without a generation", obj.ObjectName())
	}
	return w.Attrs().Generation
}

func read(t *testing.T, obj *storage.ObjectHandle) string {
	t.Helper()
	r, err := obj.NewReader(t.Context())
	if err != nil {
		t.Fatalf("read %s: %v", obj.ObjectName(), err)
	}
	defer r.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func sumRows(t *testing.T, url string) int64 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	defer conn.Close(t.Context())
	var sum int64
	if err := conn.QueryRow(t.Context(), "SELECT sum(n) FROM restart_check").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

// pgctl runs pg_ctl of the stack's cluster the way an operator would, as the postgres user
// when this process is root.
func pgctl(t *testing.T, c stackctl.Component, args ...string) {
	t.Helper()
	argv := append([]string{filepath.Join(c.Bin, "pg_ctl")}, args...)
	if os.Geteuid() == 0 {
		argv = append([]string{"runuser", "-u", "postgres", "--"}, argv...)
	}
	cmd := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
	// The new server inherits pg_ctl's output: not a pipe, or the wait would never end.
	cmd.Dir = c.DataDir
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
}

func status(t *testing.T, ctl *stackctl.Stack) map[string]stackctl.ComponentStatus {
	t.Helper()
	list, err := ctl.Status(t.Context())
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	m := map[string]stackctl.ComponentStatus{}
	for _, c := range list {
		m[c.Name] = c
	}
	if len(m) != 4 {
		t.Fatalf("Status lists %d components, want 4: %+v", len(m), list)
	}
	return m
}

// isZombie reports whether a /proc/PID/stat line is a zombie's.
func isZombie(stat []byte) bool {
	for i := len(stat) - 1; i >= 0; i-- {
		if stat[i] == ')' {
			return i+2 < len(stat) && stat[i+2] == 'Z'
		}
	}
	return false
}
