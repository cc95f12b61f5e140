package doctor_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/checks"
	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/parquetrowtest"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/ore/internal/doctor"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/gcsstore"
)

func allPass() map[string]string {
	return map[string]string{
		"google credentials":             "pass",
		"create probe object":            "pass",
		"create it again: already there": "pass",
		"probe parquet files":            "pass",
		"queue visibility timeout":       "pass",
		"queue redrive policy (DLQ)":     "pass",
	}
}

// TestDoctor runs the checks against the local stack: a healthy setup, then
// one broken thing at a time, each failing its own check with a fix.
func TestDoctor(t *testing.T) {
	env := stacktest.Load(t)
	gcs := stacktest.StorageClient(t, env)
	sqsc := stacktest.SQSClient(t, env)
	bucket := stacktest.NewBucket(t, env)
	// 6 × 5s + 2s = 32s.
	goodQueue, _ := stacktest.NewQueue(t, env, stacktest.VisibilityTimeout(32*time.Second))
	shortQueue, _ := stacktest.NewQueue(t, env, stacktest.VisibilityTimeout(31*time.Second))
	name := stacktest.UniqueName(t, "noredrive")
	out, err := sqsc.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": "60"}})
	if err != nil {
		t.Fatal(err)
	}
	noRedrive := *out.QueueUrl
	reg := schema.MustLoad()
	t.Cleanup(func() { sqsc.DeleteQueue(t.Context(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })

	base := func() doctor.Options {
		return doctor.Options{
			EmulatorHost: env.StorageEmulatorHost, Store: gcsstore.New(gcs, bucket), Bucket: bucket, Prefix: "logs",
			SQS: sqsc, QueueURL: goodQueue, FunctionTimeout: 5 * time.Second, BatchingWindow: 2 * time.Second,
			Registry: reg, WriterVersion: "ore test",
		}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*doctor.Options)
		fails []string
	}{
		{"Healthy", func(*doctor.Options) {}, nil},
		{"BucketMissing", func(o *doctor.Options) {
			o.Bucket = "no-such-bucket-" + strings.ToLower(name)
			o.Store = gcsstore.New(gcs, o.Bucket)
		}, []string{"create probe object", "create it again: already there", "probe parquet files"}},
		{"VisibilityTooShort", func(o *doctor.Options) { o.QueueURL = shortQueue }, []string{"queue visibility timeout"}},
		{"LongerFunctionTimeout", func(o *doctor.Options) { o.FunctionTimeout = time.Minute }, []string{"queue visibility timeout"}},
		{"NoRedrivePolicy", func(o *doctor.Options) { o.QueueURL = noRedrive }, []string{"queue redrive policy (DLQ)"}},
		{"QueueMissing", func(o *doctor.Options) { o.QueueURL = goodQueue + "-gone" }, []string{"queue visibility timeout", "queue redrive policy (DLQ)"}},
		{"NoQueueURL", func(o *doctor.Options) { o.QueueURL = "" }, []string{"queue visibility timeout", "queue redrive policy (DLQ)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.edit(&o)
			rs := doctor.Run(t.Context(), o)
			want := allPass()
			for _, c := range tc.fails {
				want[c] = "FAIL"
			}
			if diff := cmp.Diff(want, checks.Outcomes(rs)); diff != "" {
				var buf bytes.Buffer
				checks.Write(&buf, rs)
				t.Errorf("checks (-want +got):\n%s\n%s", diff, buf.String())
			}
			if checks.OK(rs) != (len(tc.fails) == 0) {
				t.Errorf("OK = %v with failures %v", checks.OK(rs), tc.fails)
			}
		})
	}

	// The probe objects are under _doctor/, which is not data: Masora's
	// layout does not parse them.
	it := gcs.Bucket(bucket).Objects(t.Context(), nil)
	n := 0
	for attrs, err := it.Next(); err == nil; attrs, err = it.Next() {
		n++
		if !strings.HasPrefix(attrs.Name, "logs/_doctor/") {
			t.Errorf("doctor wrote %s, want only objects under logs/_doctor/", attrs.Name)
		}
		if o, err := layout.Parse("logs", attrs.Name); err == nil {
			t.Errorf("layout.Parse(%s) = %+v, want an error: probes must not look like data", attrs.Name, o)
		}
	}
	if n == 0 {
		t.Error("no probe object in the bucket")
	}

	// One probe parquet file per schema version of every log type, each a
	// file of that version with one row, as masora doctor expects.
	for _, name := range reg.Names() {
		versions, err := reg.Versions(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, lt := range versions {
			p := layout.ProbePath("logs", name, lt.Version)
			r, err := gcs.Bucket(bucket).Object(p).NewReader(t.Context())
			if err != nil {
				t.Errorf("probe file %s: %v", p, err)
				continue
			}
			data, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if rows := parquetrowtest.Read(t, data, lt); len(rows) != 1 {
				t.Errorf("probe file %s has %d rows, want 1", p, len(rows))
			}
		}
	}
}

// TestCredentialsFail: without an emulator, credentials that do not resolve
// fail the check, with what to set.
func TestCredentialsFail(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "creds.json")
	if err := os.WriteFile(bad, []byte(`{"type":"external_account"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", bad)
	rs := doctor.Run(t.Context(), doctor.Options{Store: failStore{}, Bucket: "b", Prefix: "logs"})
	if rs[0].Check != "google credentials" || rs[0].OK || !strings.Contains(rs[0].Fix, "GOOGLE_APPLICATION_CREDENTIALS") {
		t.Errorf("credentials check = %+v, want a failure naming GOOGLE_APPLICATION_CREDENTIALS", rs[0])
	}
	var buf bytes.Buffer
	if err := checks.Write(&buf, rs); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{"CHECK", "google credentials", "FAIL", "fix: set GOOGLE_APPLICATION_CREDENTIALS", "checks failed"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
}

// failStore is a store that refuses every write.
type failStore struct{}

func (failStore) Create(context.Context, string, objstore.Object) (bool, error) {
	return false, errors.New("refused")
}
