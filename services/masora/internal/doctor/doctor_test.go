package doctor_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/checks"
	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
	"github.com/ore-masora/pipeline/libs/testkit/bqreadtest"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/masora/internal/doctor"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
)

const (
	checkPostgres = "postgres migrations at head"
	checkBucket   = "bucket lists"
	checkDataset  = "dataset location"
	checkUser     = "external tables user_action"
	checkSeller   = "external tables seller_action"
	checkAuth     = "authentication settings"
)

// writeProbes writes the probe files `ore doctor` writes: one file of one
// row per schema version of every log type.
func writeProbes(t *testing.T, s *masoratest.Stack) {
	t.Helper()
	gen, err := eventgen.New(s.Registry, eventgen.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range s.Registry.Names() {
		ev, err := gen.Event(name, 0)
		if err != nil {
			t.Fatal(err)
		}
		versions, err := s.Registry.Versions(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, lt := range versions {
			msg := masoratest.Message{ID: "ore-doctor", Body: ev.Body, ReceivedAt: time.Now()}
			s.Put(t, layout.ProbePath(masoratest.Prefix, name, lt.Version), masoratest.ParquetVersion(t, lt, []masoratest.Message{msg}))
		}
	}
}

// TestDoctor runs the checks against the local stack: a healthy deployment,
// then one broken thing at a time, each failing its own checks with a fix.
func TestDoctor(t *testing.T) {
	s := masoratest.New(t)
	writeProbes(t, s)
	env := stacktest.Load(t)
	unmigrated := stacktest.PostgresSchema(t, env)
	emptyBucket := stacktest.NewBucket(t, env)

	base := func() doctor.Options {
		return doctor.Options{
			Registry: s.Registry, Database: masoratest.ConnConfig(t, s.DSN),
			Storage: s.Storage, Bucket: s.Bucket, Prefix: masoratest.Prefix,
			BigQuery: s.BigQuery, Dataset: s.Dataset, CallTimeout: time.Minute, KeepTables: true,
			AuthToken: true,
		}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*doctor.Options)
		fails []string
	}{
		{"Healthy", func(*doctor.Options) {}, nil},
		{"OIDC", func(o *doctor.Options) {
			o.AuthToken, o.OIDCAudience, o.AllowedEmails = false, "https://masora-abc-ew.a.run.app", []string{"scheduler@p.iam.gserviceaccount.com"}
		}, nil},
		{"MigrationsNotApplied", func(o *doctor.Options) { o.Database = masoratest.ConnConfig(t, unmigrated) }, []string{checkPostgres}},
		{"PostgresDown", func(o *doctor.Options) {
			o.Database = masoratest.ConnConfig(t, "postgres://postgres@127.0.0.1:1/x?connect_timeout=2")
		}, []string{checkPostgres}},
		{"BucketMissing", func(o *doctor.Options) { o.Bucket = "no-such-bucket-" + s.Dataset[:8] }, []string{checkBucket, checkDataset, checkUser, checkSeller}},
		{"NoProbeFiles", func(o *doctor.Options) { o.Bucket = emptyBucket }, []string{checkUser, checkSeller}},
		{"DatasetMissing", func(o *doctor.Options) { o.Dataset = "no_such_dataset" }, []string{checkDataset, checkUser, checkSeller}},
		{"WrongLocation", func(o *doctor.Options) { o.Location = "asia-northeast1" }, []string{checkDataset}},
		{"InsecureLocal", func(o *doctor.Options) { o.AuthToken, o.InsecureLocal = false, true }, []string{checkAuth}},
		{"NoAuth", func(o *doctor.Options) { o.AuthToken = false }, []string{checkAuth}},
		{"AudienceNotHTTPS", func(o *doctor.Options) {
			o.AuthToken, o.OIDCAudience, o.AllowedEmails = false, "masora", []string{"scheduler@p.iam.gserviceaccount.com"}
		}, []string{checkAuth}},
		{"AudienceWithoutEmails", func(o *doctor.Options) { o.AuthToken, o.OIDCAudience = false, "https://masora.example.com" }, []string{checkAuth}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.edit(&o)
			rs := doctor.Run(t.Context(), o)
			want := map[string]string{checkPostgres: "pass", checkBucket: "pass", checkDataset: "pass", checkUser: "pass", checkSeller: "pass", checkAuth: "pass"}
			for _, c := range tc.fails {
				want[c] = "FAIL"
			}
			if diff := cmp.Diff(want, checks.Outcomes(rs)); diff != "" {
				var buf bytes.Buffer
				checks.Write(&buf, rs)
				t.Errorf("checks (-want +got):\n%s\n%s", diff, buf.String())
			}
		})
	}
}

func TestLocationReads(t *testing.T) {
	tests := []struct {
		dataset, bucket string
		want            bool
	}{
		{"US", "US", true},
		{"US", "US-CENTRAL1", true},
		{"us", "us-east4", true},
		{"EU", "EU", true},
		{"EU", "EUROPE-WEST1", true},
		{"europe-west1", "EUROPE-WEST1", true},
		{"US", "EUROPE-WEST1", false},
		{"EU", "US", false},
		{"europe-west1", "EU", false},
		{"asia-northeast1", "US", false},
		{"US", "", false},
	}
	for _, tt := range tests {
		if got := doctor.LocationReads(tt.dataset, tt.bucket); got != tt.want {
			t.Errorf("LocationReads(%q, %q) = %v, want %v", tt.dataset, tt.bucket, got, tt.want)
		}
	}
}

// TestDoctorStorageRead reads the probe queries through a Storage Read API
// server, as a deployment with MASORA_BIGQUERY_STORAGE_READ on does, and the
// check says so.
func TestDoctorStorageRead(t *testing.T) {
	s := masoratest.New(t)
	writeProbes(t, s)
	srv := bqreadtest.New(t, bqreadtest.Options{Source: s.BigQuery, Streams: 2})
	bq := srv.Client(t, s.Env.BigQueryProject, s.Env.BigQueryEndpoint)
	rs := doctor.Run(t.Context(), doctor.Options{
		Registry: s.Registry, Database: masoratest.ConnConfig(t, s.DSN), Storage: s.Storage, Bucket: s.Bucket, Prefix: masoratest.Prefix,
		BigQuery: bq, Dataset: s.Dataset, CallTimeout: time.Minute, KeepTables: true, StorageRead: true, AuthToken: true,
	})
	var buf bytes.Buffer
	checks.Write(&buf, rs)
	if !checks.OK(rs) {
		t.Fatalf("checks failed:\n%s", buf.String())
	}
	for _, r := range rs {
		if strings.HasPrefix(r.Check, "external tables") && !strings.Contains(r.Detail, "read through the Storage Read API") {
			t.Errorf("%s: %s; want it read through the Storage Read API\n%s", r.Check, r.Detail, buf.String())
		}
	}
}
