package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/ore/internal/handler/handlertest"
)

// TestDependencyFence keeps the Ore binary free of what belongs to Masora.
func TestDependencyFence(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	forbidden := []string{"cloud.google.com/go/bigquery", "github.com/jackc/pgx"}
	for _, tags := range []string{"", "lambda.norpc"} {
		out, err := exec.Command("go", "list", "-deps", "-tags", tags, ".").CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps -tags %q: %v\n%s", tags, err, out)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, "github.com/aws/aws-lambda-go/lambda") {
			t.Fatalf("go list -deps -tags %q does not list aws-lambda-go: the check is not looking at ore", tags)
		}
		for _, d := range deps {
			for _, f := range forbidden {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("ore (tags %q) depends on %s; Ore must not import BigQuery or pgx", tags, d)
				}
			}
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestLambdaRuntimeSmoke builds bootstrap as it is deployed, runs it under
// the AWS Lambda Runtime Interface Emulator and invokes it twice with the
// same SQS event: the first invocation writes the parquet file and the
// quarantine to fake-gcs-server, the second finds them and writes nothing.
func TestLambdaRuntimeSmoke(t *testing.T) {
	env := stacktest.Load(t)
	if env.LambdaRIEBin == "" {
		t.Fatalf("the stack env %s has no LAMBDA_RIE_BIN", env.Path)
	}
	bucket := stacktest.NewBucket(t, env)

	fn := startFunction(t, env, bucket)
	at := time.Now().UTC()
	batch := handlertest.UserActionBatch(3, at)
	batch.Records = append(batch.Records, handlertest.Message("bad-1", "user_action", `{"event_id":"nope"}`))
	payload, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	gcs := stacktest.StorageClient(t, env)
	var first map[string][]byte
	for i := range 2 {
		if got := fn.invoke(t, payload); len(got.BatchItemFailures) != 0 {
			t.Fatalf("invocation %d: batch item failures %v, want none", i+1, got.BatchItemFailures)
		}
		objs := handlertest.ReadBucket(t, gcs, bucket)
		if i == 0 {
			first = objs
			continue
		}
		if diff := cmp.Diff(first, objs); diff != "" {
			t.Errorf("the second, identical invocation changed the bucket (-want +got):\n%s", diff)
		}
	}

	out := handlertest.ReadOutcome(t, "smoke", first)
	var files [][]string
	for path, ids := range out.Files {
		if !strings.HasPrefix(path, fmt.Sprintf("smoke/user_action/dt=%s/hour=%02d/", at.Format("2006-01-02"), at.Hour())) &&
			!strings.HasPrefix(path, fmt.Sprintf("smoke/user_action/dt=%s/hour=%02d/", at.Add(time.Hour).Format("2006-01-02"), at.Add(time.Hour).Hour())) {
			t.Errorf("file %s is not in the receive hour's folder", path)
		}
		files = append(files, ids)
	}
	if diff := cmp.Diff([][]string{{"msg-000000", "msg-000001", "msg-000002"}}, files); diff != "" {
		t.Errorf("parquet files' message ids (-want +got):\n%s", diff)
	}
	var quarantined []string
	for _, recs := range out.Quarantine {
		for _, r := range recs {
			quarantined = append(quarantined, r.MessageID+": "+r.Reason)
		}
	}
	if len(quarantined) != 1 || !strings.HasPrefix(quarantined[0], "bad-1: invalid user_action message: event_id: must be a UUID") {
		t.Errorf("quarantine %q, want bad-1 with its reason", quarantined)
	}
	if logs := fn.logs.String(); !strings.Contains(logs, `"message":"batch handled"`) || !strings.Contains(logs, `"CloudWatchMetrics"`) {
		t.Errorf("the function logged no batch line or EMF line:\n%s", logs)
	}
}

// function is bootstrap running under the Runtime Interface Emulator.
type function struct {
	invokeAddr string
	rie        *exec.Cmd
	logs       *bytes.Buffer
}

// startFunction builds bootstrap as it is deployed (CGO_ENABLED=0, -tags
// lambda.norpc) and starts it under the emulator, writing to bucket, as a
// 256 MB function.
func startFunction(t *testing.T, env stacktest.Env, bucket string) *function {
	t.Helper()
	if env.LambdaRIEBin == "" {
		t.Fatalf("the stack env %s has no LAMBDA_RIE_BIN", env.Path)
	}
	bootstrap := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, out)
	}
	fn := &function{invokeAddr: freePort(t), logs: new(bytes.Buffer)}
	fn.rie = exec.Command(env.LambdaRIEBin, "--runtime-interface-emulator-address", fn.invokeAddr, "--runtime-api-address", freePort(t), bootstrap)
	fn.rie.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"GCS_BUCKET=" + bucket,
		"GCS_PREFIX=smoke",
		"STORAGE_EMULATOR_HOST=" + env.StorageEmulatorHost,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"LOG_LEVEL=info",
	}
	fn.rie.Stdout, fn.rie.Stderr = fn.logs, fn.logs
	if err := fn.rie.Start(); err != nil {
		t.Fatalf("start %s: %v", env.LambdaRIEBin, err)
	}
	t.Cleanup(func() {
		fn.rie.Process.Kill()
		fn.rie.Wait()
		if t.Failed() {
			t.Logf("runtime emulator and function output:\n%s", fn.logs.String())
		}
	})
	return fn
}

// invoke posts an event and decodes the SQSEventResponse.
func (fn *function) invoke(t *testing.T, payload []byte) events.SQSEventResponse {
	t.Helper()
	url := "http://" + fn.invokeAddr + "/2015-03-31/functions/function/invocations"
	var resp *http.Response
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err = http.Post(url, "application/json", bytes.NewReader(payload))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the emulator is starting
	}
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: HTTP %d: %s", resp.StatusCode, body)
	}
	var out events.SQSEventResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("invoke returned %s, not an SQSEventResponse: %v", body, err)
	}
	return out
}

// peakRSS returns the peak resident set size of the emulator's child
// process: the function.
func (fn *function) peakRSS(t *testing.T) uint64 {
	t.Helper()
	children, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", fn.rie.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range children {
		b, _ := os.ReadFile(c)
		for _, pid := range strings.Fields(string(b)) {
			exe, _ := os.Readlink("/proc/" + pid + "/exe")
			if filepath.Base(exe) != "bootstrap" {
				continue
			}
			status, err := os.ReadFile("/proc/" + pid + "/status")
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(status), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var kb uint64
					fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
					return kb << 10
				}
			}
		}
	}
	t.Fatal("no bootstrap process under the runtime emulator")
	return 0
}

// TestLambda10kBatchMemory sends a 10,000-message batch, as large as fits
// Lambda's 6 MB invoke payload, through the real runtime API to a function
// configured with 256 MB, and checks that it is written whole and that the
// function's peak RSS stays within 256 MB.
func TestLambda10kBatchMemory(t *testing.T) {
	env := stacktest.Load(t)
	bucket := stacktest.NewBucket(t, env)
	fn := startFunction(t, env, bucket)
	at := time.Now().UTC()
	// With 30% of the optional fields, 10,000 realistic bodies come close
	// to the payload limit (checked below).
	gen, err := eventgen.New(schema.MustLoad(), eventgen.Options{Seed: 2, Start: at, Step: time.Microsecond, OptionalRate: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	batch := events.SQSEvent{Records: make([]events.SQSMessage, 10000)}
	for i := range batch.Records {
		ev, err := gen.Event("user_action", i)
		if err != nil {
			t.Fatal(err)
		}
		batch.Records[i] = handlertest.Message(fmt.Sprintf("m-%05d", i), "user_action", string(ev.Body))
	}
	payload, err := json.Marshal(batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(payload) > 6*1024*1024 {
		t.Fatalf("test payload is %d bytes, over Lambda's 6 MB", len(payload))
	}
	if got := fn.invoke(t, payload); len(got.BatchItemFailures) != 0 {
		t.Fatalf("%d batch item failures, want none", len(got.BatchItemFailures))
	}
	out := handlertest.ReadOutcome(t, "smoke", handlertest.ReadBucket(t, stacktest.StorageClient(t, env), bucket))
	rows := 0
	for _, ids := range out.Files {
		rows += len(ids)
	}
	if rows != 10000 || len(out.Files) != 1 {
		t.Errorf("%d rows in %d files, want 10000 in 1", rows, len(out.Files))
	}
	rss := fn.peakRSS(t)
	t.Logf("payload %d bytes; function peak RSS %.1f MiB", len(payload), float64(rss)/(1<<20))
	if rss > 256<<20 {
		t.Errorf("function peak RSS %d bytes is over the 256 MB function memory", rss)
	}
}
