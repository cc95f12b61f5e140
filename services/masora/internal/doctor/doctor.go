// Package doctor checks a deployment of Masora from the inside, with
// Masora's own identity and configuration: Postgres answers and its
// migrations are at head, the bucket lists, the dataset exists in a location
// that can read the bucket, an external table over Ore's probe files of every
// schema version can be created, queried and dropped, and the OIDC settings
// are consistent. It is what `masora doctor` runs right after
// `terraform apply` (and after `ore doctor`, which writes the probe files).
package doctor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"github.com/jackc/pgx/v5"
	"google.golang.org/api/iterator"

	"github.com/ore-masora/pipeline/libs/bqschema"
	"github.com/ore-masora/pipeline/libs/checks"
	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/reportdb"
)

// Options are what the checks look at: Masora's configuration and clients.
type Options struct {
	Registry *schema.Registry
	// Database connects to the reporting Postgres (package dbconn).
	Database *pgx.ConnConfig

	Storage *storage.Client
	Bucket  string
	Prefix  string

	BigQuery *bigquery.Client
	Dataset  string
	// Location is BIGQUERY_LOCATION; empty lets BigQuery decide.
	Location string
	// StorageRead says whether runs read results through the Storage Read
	// API (BigQuery must have that client enabled): the probe query is read
	// the same way, and the check says whether the client really used it.
	StorageRead bool
	// KeepTables leaves the probe tables to expire (after an hour) instead
	// of deleting them, as MASORA_BIGQUERY_KEEP_TABLES does for runs (the
	// bigquery-emulator's memory grows with every table deletion).
	KeepTables bool
	// CallTimeout bounds each check's calls.
	CallTimeout time.Duration

	// The authentication settings of `masora serve`.
	AuthToken     bool
	InsecureLocal bool
	OIDCAudience  string
	AllowedEmails []string
}

const (
	checkPostgres = "postgres migrations at head"
	checkBucket   = "bucket lists"
	checkDataset  = "dataset location"
	checkAuth     = "authentication settings"
)

// Run runs every check and returns one result per check, in order.
func Run(ctx context.Context, o Options) []checks.Result {
	rs := []checks.Result{postgresCheck(ctx, o), bucketCheck(ctx, o), datasetCheck(ctx, o)}
	for _, name := range o.Registry.Names() {
		rs = append(rs, externalTableCheck(ctx, o, name))
	}
	return append(rs, authCheck(o))
}

func (o Options) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, o.CallTimeout)
}

func postgresCheck(ctx context.Context, o Options) checks.Result {
	r := checks.Result{Check: checkPostgres}
	ctx, cancel := o.timeout(ctx)
	defer cancel()
	st, err := reportdb.Check(ctx, o.Database)
	switch {
	case err != nil:
		r.Detail = err.Error()
		r.Fix = "check DATABASE_URL (and MASORA_CLOUDSQL_INSTANCE), that Masora's identity may connect (Cloud SQL: roles/cloudsql.client, roles/cloudsql.instanceUser and an IAM database user named as DATABASE_URL's user), and the network path"
	case st.Dirty:
		r.Detail = fmt.Sprintf("migration %d failed half way (dirty)", st.Version)
		r.Fix = "read the migration job's log, repair the database by hand, then force the version with the migrate tool"
	case st.Version != st.Latest:
		r.Detail = fmt.Sprintf("at migration %d of %d", st.Version, st.Latest)
		r.Fix = "run `masora migrate` (the migration job) with this build"
	default:
		r.OK, r.Detail = true, fmt.Sprintf("at migration %d of %d", st.Version, st.Latest)
	}
	return r
}

func bucketCheck(ctx context.Context, o Options) checks.Result {
	r := checks.Result{Check: checkBucket}
	ctx, cancel := o.timeout(ctx)
	defer cancel()
	it := o.Storage.Bucket(o.Bucket).Objects(ctx, &storage.Query{Prefix: layout.LogTypePrefix(o.Prefix, "")})
	_, err := it.Next()
	if err != nil && !errors.Is(err, iterator.Done) {
		r.Detail = fmt.Sprintf("list gs://%s/%s: %v", o.Bucket, o.Prefix, err)
		r.Fix = "check GCS_BUCKET and that Masora's service account has storage.objects.list on it (roles/storage.objectViewer)"
		return r
	}
	r.OK, r.Detail = true, fmt.Sprintf("gs://%s/%s", o.Bucket, o.Prefix)
	return r
}

// datasetCheck checks that the dataset exists and that its location can read
// the bucket: BigQuery reads external data only from a bucket in the
// dataset's location, or, for a multi-region dataset (US, EU), from a bucket
// in that multi-region or in one of its regions.
func datasetCheck(ctx context.Context, o Options) checks.Result {
	r := checks.Result{Check: checkDataset}
	ctx, cancel := o.timeout(ctx)
	defer cancel()
	md, err := o.BigQuery.Dataset(o.Dataset).Metadata(ctx)
	if err != nil {
		r.Detail = fmt.Sprintf("dataset %s.%s: %v", o.BigQuery.Project(), o.Dataset, err)
		r.Fix = "check BIGQUERY_PROJECT and BIGQUERY_DATASET, that the dataset exists, and that Masora's service account has roles/bigquery.dataEditor on it"
		return r
	}
	attrs, err := o.Storage.Bucket(o.Bucket).Attrs(ctx)
	if err != nil {
		r.Detail = fmt.Sprintf("bucket gs://%s: %v", o.Bucket, err)
		r.Fix = "check GCS_BUCKET and that Masora's service account has storage.buckets.get on it"
		return r
	}
	if o.Location != "" && !strings.EqualFold(o.Location, md.Location) {
		r.Detail = fmt.Sprintf("BIGQUERY_LOCATION=%s but dataset %s is in %s", o.Location, o.Dataset, md.Location)
		r.Fix = "set BIGQUERY_LOCATION to the dataset's location, or leave it empty"
		return r
	}
	if !LocationReads(md.Location, attrs.Location) {
		r.Detail = fmt.Sprintf("dataset %s is in %s, bucket %s in %s", o.Dataset, md.Location, o.Bucket, attrs.Location)
		r.Fix = "create the dataset in the bucket's location (a dataset's location cannot change)"
		return r
	}
	r.OK, r.Detail = true, fmt.Sprintf("dataset %s in %s, bucket in %s", o.Dataset, md.Location, attrs.Location)
	return r
}

// multiRegions maps a BigQuery multi-region to the prefix of the Cloud
// Storage locations inside it.
var multiRegions = map[string]string{"US": "US", "EU": "EUROPE"}

// LocationReads reports whether a dataset in location dataset can read
// external data from a bucket in location bucket.
func LocationReads(dataset, bucket string) bool {
	d, b := strings.ToUpper(dataset), strings.ToUpper(bucket)
	if d == b || (d == "EU" && b == "EU") {
		return true
	}
	if p, ok := multiRegions[d]; ok {
		return b == p || strings.HasPrefix(b, p+"-")
	}
	return false
}

// externalTableCheck creates one external table per schema version of the
// log type over `ore doctor`'s probe file of that version (one table never
// spans two versions), queries each, reading the result the way runs do,
// and drops them.
func externalTableCheck(ctx context.Context, o Options, logType string) checks.Result {
	r := checks.Result{Check: "external tables " + logType}
	versions, err := o.Registry.Versions(logType)
	if err != nil {
		r.Detail = err.Error()
		return r
	}
	var done []string
	accelerated := true
	for _, lt := range versions {
		n, acc, err := probeVersion(ctx, o, lt)
		if err != nil {
			r.Detail = fmt.Sprintf("%s: %v", lt, err)
			r.Fix = fixFor(err)
			return r
		}
		accelerated = accelerated && acc
		done = append(done, fmt.Sprintf("v%d: %d row(s)", lt.Version, n))
	}
	verb := "created, queried and dropped: "
	if o.KeepTables {
		verb = "created and queried (left to expire: MASORA_BIGQUERY_KEEP_TABLES): "
	}
	r.OK, r.Detail = true, verb+strings.Join(done, ", ")
	switch {
	case o.StorageRead && accelerated:
		r.Detail += "; read through the Storage Read API"
	case o.StorageRead:
		// The client falls back to pages when it cannot open a read session,
		// or when the result came back with the query: slower, not wrong.
		r.Detail += "; read as pages although the Storage Read API is on (without roles/bigquery.readSessionUser the client falls back to pages)"
	}
	return r
}

// errNoProbe marks a missing probe file.
var errNoProbe = errors.New("no probe file")

func fixFor(err error) string {
	if errors.Is(err, errNoProbe) {
		return "run `ore doctor` first: it writes one probe file per schema version under " + layout.ProbeDir + "/"
	}
	return "check that Masora's service account has roles/bigquery.jobUser on the project, roles/bigquery.dataEditor on the dataset and storage.objects.get/list on the bucket, and the dataset location check above"
}

// probeVersion creates, queries and drops the external table over one
// version's probe file. It returns the row count and whether the result was
// read through the Storage Read API.
func probeVersion(ctx context.Context, o Options, lt *schema.LogType) (int64, bool, error) {
	ctx, cancel := o.timeout(ctx)
	defer cancel()
	name := layout.ProbePath(o.Prefix, lt.Name, lt.Version)
	if _, err := o.Storage.Bucket(o.Bucket).Object(name).Attrs(ctx); err != nil {
		if errors.Is(err, storage.ErrObjectNotExist) {
			return 0, false, fmt.Errorf("%w gs://%s/%s", errNoProbe, o.Bucket, name)
		}
		return 0, false, fmt.Errorf("read gs://%s/%s: %w", o.Bucket, name, err)
	}
	sch, err := bqschema.Schema(lt)
	if err != nil {
		return 0, false, err
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, false, err
	}
	id := fmt.Sprintf("masora_doctor_%s_v%d_%s", lt.Name, lt.Version, hex.EncodeToString(b[:]))
	table := o.BigQuery.Dataset(o.Dataset).Table(id)
	cfg := &bigquery.ExternalDataConfig{SourceFormat: bigquery.Parquet, SourceURIs: []string{"gs://" + o.Bucket + "/" + name}, Schema: sch}
	if err := table.Create(ctx, &bigquery.TableMetadata{ExternalDataConfig: cfg, ExpirationTime: time.Now().Add(time.Hour)}); err != nil {
		return 0, false, fmt.Errorf("create external table %s: %w", id, err)
	}
	if !o.KeepTables {
		defer table.Delete(context.WithoutCancel(ctx))
	}
	q := o.BigQuery.Query(fmt.Sprintf("SELECT COUNT(*) AS n FROM `%s.%s.%s`", o.BigQuery.Project(), o.Dataset, id))
	q.Location = o.Location
	// Run, wait, then read the job's result, as runs do: the read goes through
	// the Storage Read API when the client has it.
	job, err := q.Run(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("query external table %s: %w", id, err)
	}
	st, err := job.Wait(ctx)
	if err == nil {
		err = st.Err()
	}
	if err != nil {
		return 0, false, fmt.Errorf("query external table %s: %w", id, err)
	}
	it, err := job.Read(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("read the query result of %s: %w", id, err)
	}
	var row struct{ N int64 }
	if err := it.Next(&row); err != nil {
		return 0, false, fmt.Errorf("read the query result of %s: %w", id, err)
	}
	if row.N < 1 {
		return 0, false, fmt.Errorf("external table %s over gs://%s/%s has no rows", id, o.Bucket, name)
	}
	return row.N, it.IsAccelerated(), nil
}

// authCheck checks that `masora serve` authenticates its callers in a way a
// deployment can use: OIDC with an audience that is an https URL (the
// service's, which Cloud Scheduler's token names) and allowed emails, or a
// bearer token.
func authCheck(o Options) checks.Result {
	r := checks.Result{Check: checkAuth}
	switch {
	case o.OIDCAudience != "":
		u, err := url.Parse(o.OIDCAudience)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			r.Detail = fmt.Sprintf("MASORA_OIDC_AUDIENCE=%q is not an https URL", o.OIDCAudience)
			r.Fix = "set MASORA_OIDC_AUDIENCE to the service's URL, the audience Cloud Scheduler's OIDC token names (and Cloud Run's custom_audiences)"
			return r
		}
		if len(o.AllowedEmails) == 0 {
			r.Detail = "MASORA_OIDC_ALLOWED_EMAILS is empty"
			r.Fix = "list the Cloud Scheduler service account(s) in MASORA_OIDC_ALLOWED_EMAILS"
			return r
		}
		r.OK, r.Detail = true, fmt.Sprintf("OIDC, audience %s, %d allowed email(s)", o.OIDCAudience, len(o.AllowedEmails))
	case o.AuthToken:
		r.OK, r.Detail = true, "bearer token (MASORA_AUTH_TOKEN)"
	case o.InsecureLocal:
		r.Detail = "MASORA_INSECURE_LOCAL: no authentication, for a laptop only"
		r.Fix = "set MASORA_OIDC_AUDIENCE and MASORA_OIDC_ALLOWED_EMAILS (or MASORA_AUTH_TOKEN) and unset MASORA_INSECURE_LOCAL"
	default:
		r.Detail = "no authentication configured: serve refuses to start"
		r.Fix = "set MASORA_OIDC_AUDIENCE and MASORA_OIDC_ALLOWED_EMAILS (or MASORA_AUTH_TOKEN)"
	}
	return r
}
