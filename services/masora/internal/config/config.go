// Package config owns Masora's configuration: every setting, its environment
// variable, its default and its validation, read once at start-up by Load.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ore-masora/pipeline/libs/envconfig"
	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/dbconn"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

// Config is Masora's configuration. The comment of each field names its
// environment variable and default.
type Config struct {
	// Port is the HTTP port of `masora serve` ($PORT, 8080).
	Port int
	// LogLevel is the lowest level logged ($LOG_LEVEL: debug, info, warn,
	// error; info).
	LogLevel slog.Level

	// DatabaseURL is the reporting Postgres, a pgx connection string
	// ($DATABASE_URL, required). Never log it: use envconfig.RedactPassword.
	// With CloudSQLInstance only its database, user and parameters count.
	DatabaseURL string
	// CloudSQLInstance connects through the Cloud SQL Go connector with IAM
	// database authentication to this instance, its connection name
	// project:region:instance ($MASORA_CLOUDSQL_INSTANCE, empty: connect to
	// DATABASE_URL's host). DATABASE_URL's user is then the IAM database
	// user and it has no password.
	CloudSQLInstance string
	// CloudSQLIPType is the instance address the connector dials
	// ($MASORA_CLOUDSQL_IP_TYPE: public, private or psc; public).
	CloudSQLIPType dbconn.IPType
	// DBMaxConns bounds the Postgres pool ($MASORA_DB_MAX_CONNS, 4; at least
	// 2: one connection holds the run's lock, one loads).
	DBMaxConns int32

	// BigQueryProject runs the queries and holds the dataset
	// ($BIGQUERY_PROJECT, required to run).
	BigQueryProject string
	// BigQueryDataset holds the short-lived external tables
	// ($BIGQUERY_DATASET, required to run).
	BigQueryDataset string
	// BigQueryLocation is the location of the dataset and jobs
	// ($BIGQUERY_LOCATION, empty: BigQuery's default).
	BigQueryLocation string
	// BigQueryEndpoint overrides the BigQuery API endpoint, e.g. for the
	// emulator ($BIGQUERY_ENDPOINT, empty: real BigQuery with default
	// credentials).
	BigQueryEndpoint string
	// BigQueryStorageRead reads query results with the Storage Read API
	// instead of jobs.getQueryResults pages ($MASORA_BIGQUERY_STORAGE_READ;
	// true, or false when BIGQUERY_ENDPOINT is set, as emulators lack it).
	BigQueryStorageRead bool
	// BigQueryStorageReadEndpoint is the host:port of a Storage Read API
	// server spoken to in plaintext without authentication, such as the
	// tests' bqreadtest server ($BIGQUERY_STORAGE_READ_ENDPOINT, empty: real
	// BigQuery's, with default credentials).
	BigQueryStorageReadEndpoint string
	// BigQueryTimeout bounds each BigQuery call: creating or deleting an
	// external table, running a query to completion
	// ($MASORA_BIGQUERY_TIMEOUT, 2m).
	BigQueryTimeout time.Duration
	// BigQueryKeepTables leaves each chunk's external table to expire after
	// 24 hours instead of deleting it once its query is done
	// ($MASORA_BIGQUERY_KEEP_TABLES, false). For debugging, and for the
	// bigquery-emulator, whose memory grows with every table deletion.
	BigQueryKeepTables bool
	// ChunkTimeout bounds streaming one chunk's result into Postgres
	// ($MASORA_CHUNK_TIMEOUT, 30m).
	ChunkTimeout time.Duration

	// GCSBucket holds Ore's parquet files ($GCS_BUCKET, required to run).
	GCSBucket string
	// GCSPrefix is the folder of the layout in the bucket ($GCS_PREFIX, logs).
	GCSPrefix string

	// Lookback is how far back a scheduled run lists hour folders
	// ($MASORA_LOOKBACK, 48h).
	Lookback time.Duration
	// ChunkFiles is the most parquet objects loaded in one chunk, that is
	// one external table, one query and one Postgres transaction
	// ($MASORA_CHUNK_FILES, 100).
	ChunkFiles int
	// ChunkAttempts is how many times a chunk, and the recording of a run's
	// end, are tried when Postgres fails them transiently: unreachable,
	// restarting, connection broken ($MASORA_CHUNK_ATTEMPTS, 5; waits of 1s,
	// 2s, 4s… up to 15s between attempts).
	ChunkAttempts int
	// BackfillMaxRange bounds the range of a backfill, from its from to its
	// to ($MASORA_BACKFILL_MAX_RANGE, 744h: 31 days).
	BackfillMaxRange time.Duration
	// LockWait is how long a run waits for another run of the same log type
	// to finish before it gives up with 409 ($MASORA_LOCK_WAIT, 0: give up
	// at once).
	LockWait time.Duration
	// ShutdownTimeout is how long SIGTERM waits for requests in flight
	// before cancelling them; a cancelled chunk rolls back
	// ($MASORA_SHUTDOWN_TIMEOUT, 10s).
	ShutdownTimeout time.Duration

	// AuthToken is a shared bearer token accepted on /run and /backfill,
	// for local use ($MASORA_AUTH_TOKEN, empty: off). Never log it.
	AuthToken string
	// OIDCAudience turns on verification of Google-signed OIDC ID tokens
	// (Cloud Scheduler) with this audience, usually the service URL
	// ($MASORA_OIDC_AUDIENCE, empty: off).
	OIDCAudience string
	// OIDCAllowedEmails are the service accounts whose tokens may trigger
	// runs ($MASORA_OIDC_ALLOWED_EMAILS, comma-separated; required with
	// MASORA_OIDC_AUDIENCE).
	OIDCAllowedEmails []string
	// OIDCIssuer is the required token issuer ($MASORA_OIDC_ISSUER,
	// https://accounts.google.com).
	OIDCIssuer string
	// OIDCJWKSURL is where the issuer's signing keys are fetched
	// ($MASORA_OIDC_JWKS_URL, Google's https://www.googleapis.com/oauth2/v3/certs).
	OIDCJWKSURL string
	// InsecureLocal allows serving /run and /backfill with no
	// authentication at all; for a laptop only ($MASORA_INSECURE_LOCAL, false).
	InsecureLocal bool

	// DLQURL is the SQS dead-letter queue whose depth the status page shows
	// ($MASORA_DLQ_URL, empty: the page shows the depth as unknown).
	DLQURL string
	// AWSRegion is the dead-letter queue's region ($AWS_REGION, empty: the
	// AWS SDK's own chain: AWS_DEFAULT_REGION, the shared config file).
	AWSRegion string
	// SQSEndpoint replaces the SQS endpoint, for an emulator ($SQS_ENDPOINT,
	// empty: AWS).
	SQSEndpoint string
}

// vars is the table of every variable Masora reads, bound to c's fields:
// Load, Usage and LogValue all come from it.
func (c *Config) vars() envconfig.Vars {
	return envconfig.Vars{
		{Name: "PORT", Default: "8080", Value: envconfig.Int(&c.Port, 1, 65535),
			Doc: "HTTP port of serve (Cloud Run sets it)"},
		envconfig.LogLevel(&c.LogLevel),
		{Name: "DATABASE_URL", Required: true, Value: envconfig.ConnString(&c.DatabaseURL),
			Doc: "the reporting Postgres, a pgx connection string, e.g. postgres://masora@host:5432/reports"},
		{Name: "MASORA_CLOUDSQL_INSTANCE", Value: envconfig.Match(&c.CloudSQLInstance, validInstance.MatchString, "a Cloud SQL instance connection name, project:region:instance"),
			Doc: "connect through the Cloud SQL Go connector with IAM database authentication to this instance (project:region:instance); DATABASE_URL then names only the database and the IAM user, without password; empty: connect to DATABASE_URL's host"},
		{Name: "MASORA_CLOUDSQL_IP_TYPE", Default: string(dbconn.PublicIP), Value: envconfig.Enum(&c.CloudSQLIPType, dbconn.PublicIP, dbconn.PrivateIP, dbconn.PSC),
			Doc: "the instance address the connector dials: public (no VPC needed, IAM authorizes), private (needs VPC egress) or psc"},
		{Name: "MASORA_DB_MAX_CONNS", Default: "4", Value: envconfig.Int(&c.DBMaxConns, 2, 1000),
			Doc: "Postgres pool size, 2 to 1000: one connection holds the run's lock, one loads"},
		{Name: "BIGQUERY_PROJECT", Value: envconfig.Match(&c.BigQueryProject, warehouse.ValidProject, "a Google Cloud project ID, like my-project"),
			Doc: "project that runs the queries and holds the dataset (required to load)"},
		{Name: "BIGQUERY_DATASET", Value: envconfig.Match(&c.BigQueryDataset, warehouse.ValidDataset, "a dataset ID: letters, digits and underscores"),
			Doc: "dataset of the short-lived external tables (required to load)"},
		{Name: "BIGQUERY_LOCATION", Value: envconfig.String(&c.BigQueryLocation),
			Doc: "location of the dataset and jobs; empty: BigQuery's default"},
		{Name: "BIGQUERY_ENDPOINT", Value: envconfig.URL(&c.BigQueryEndpoint),
			Doc: "BigQuery API endpoint (the emulator), used without authentication; empty: real BigQuery"},
		{Name: "MASORA_BIGQUERY_STORAGE_READ", Value: envconfig.Bool(&c.BigQueryStorageRead),
			Doc: "read results with the Storage Read API, else jobs.getQueryResults pages; default true, false when BIGQUERY_ENDPOINT is set without BIGQUERY_STORAGE_READ_ENDPOINT"},
		{Name: "BIGQUERY_STORAGE_READ_ENDPOINT", Value: envconfig.Match(&c.BigQueryStorageReadEndpoint, validHostPort, "host:port"),
			Doc: "host:port of a Storage Read API server (a test server), spoken to in plaintext without authentication; empty: real BigQuery"},
		{Name: "MASORA_BIGQUERY_TIMEOUT", Default: "2m", Value: envconfig.Duration(&c.BigQueryTimeout, time.Second, envconfig.MaxDuration),
			Doc: "deadline of each BigQuery call: create or delete a table, run a query to completion"},
		{Name: "MASORA_BIGQUERY_KEEP_TABLES", Default: "false", Value: envconfig.Bool(&c.BigQueryKeepTables),
			Doc: "leave each chunk's external table to expire (24h) instead of deleting it; true with the bigquery-emulator"},
		{Name: "MASORA_CHUNK_TIMEOUT", Default: "30m", Value: envconfig.Duration(&c.ChunkTimeout, time.Second, envconfig.MaxDuration),
			Doc: "deadline of one chunk, from table creation to commit"},
		{Name: "GCS_BUCKET", Value: envconfig.String(&c.GCSBucket),
			Doc: "bucket Ore writes to (required to load)"},
		envconfig.GCSPrefix(&c.GCSPrefix, layout.DefaultPrefix),
		envconfig.StorageEmulatorHost,
		{Name: "MASORA_LOOKBACK", Default: "48h", Value: envconfig.Duration(&c.Lookback, time.Hour, envconfig.MaxDuration),
			Doc: "how far back a scheduled run lists hour folders, at least 1h"},
		{Name: "MASORA_CHUNK_FILES", Default: "100", Value: envconfig.Int(&c.ChunkFiles, 1, 10000),
			Doc: "objects per chunk, 1 to 10000: one external table, one query, one transaction"},
		{Name: "MASORA_CHUNK_ATTEMPTS", Default: "5", Value: envconfig.Int(&c.ChunkAttempts, 1, 100),
			Doc: "tries of a chunk, and of recording a run's end, when Postgres fails transiently (restart, broken connection), 1 to 100; waits 1s, 2s, 4s… up to 15s between tries"},
		{Name: "MASORA_BACKFILL_MAX_RANGE", Default: "744h", Value: envconfig.Duration(&c.BackfillMaxRange, time.Hour, envconfig.MaxDuration),
			Doc: "longest range of a backfill, from its from to its to (at least 1h); a longer one is refused with 400"},
		{Name: "MASORA_LOCK_WAIT", Default: "0s", Value: envconfig.Duration(&c.LockWait, 0, envconfig.MaxDuration),
			Doc: "how long a run waits for its log type's lock before answering 409"},
		{Name: "MASORA_SHUTDOWN_TIMEOUT", Default: "10s", Value: envconfig.Duration(&c.ShutdownTimeout, 0, envconfig.MaxDuration),
			Doc: "grace period after SIGTERM; then runs are cancelled and their chunk rolls back"},
		{Name: "MASORA_OIDC_AUDIENCE", Value: envconfig.String(&c.OIDCAudience),
			Doc: "accept Google-signed OIDC ID tokens for this audience, the service URL; empty: off"},
		{Name: "MASORA_OIDC_ALLOWED_EMAILS", Value: envconfig.List(&c.OIDCAllowedEmails),
			Doc: "comma-separated service accounts allowed to trigger runs (required with MASORA_OIDC_AUDIENCE)"},
		{Name: "MASORA_OIDC_ISSUER", Default: "https://accounts.google.com", Value: envconfig.String(&c.OIDCIssuer),
			Doc: "required token issuer"},
		{Name: "MASORA_OIDC_JWKS_URL", Default: "https://www.googleapis.com/oauth2/v3/certs", Value: envconfig.URL(&c.OIDCJWKSURL),
			Doc: "where the issuer's signing keys are fetched"},
		{Name: "MASORA_AUTH_TOKEN", Secret: true, Value: envconfig.Match(&c.AuthToken, func(s string) bool { return len(s) >= 16 && auth.ValidToken(s) }, "at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (a bearer token)"),
			Doc: "shared bearer token for /run and /backfill, for local use, and the status page's login; empty: off"},
		{Name: "MASORA_INSECURE_LOCAL", Default: "false", Value: envconfig.Bool(&c.InsecureLocal),
			Doc: "serve /run and /backfill with no authentication at all; for a laptop only"},
		{Name: "MASORA_DLQ_URL", Value: envconfig.URL(&c.DLQURL),
			Doc: "SQS dead-letter queue whose depth the status page shows (AWS credentials from the SDK's default chain); empty: shown as unknown"},
		{Name: "AWS_REGION", Value: envconfig.String(&c.AWSRegion),
			Doc: "region of MASORA_DLQ_URL; empty: the AWS SDK's default chain"},
		{Name: "SQS_ENDPOINT", Value: envconfig.URL(&c.SQSEndpoint),
			Doc: "SQS endpoint override for an emulator, used for MASORA_DLQ_URL; empty: AWS"},
	}
}

// Usage describes every environment variable, its default and meaning.
func Usage() string { return new(Config).vars().Usage() }

// Load reads the configuration from getenv (os.Getenv in production) and
// checks every value that is set. What a command needs beyond that is
// checked by CheckPipeline and CheckServe. The error lists every problem,
// one a line.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{}
	errs := []error{c.vars().Load(getenv)}
	if envconfig.Unset(getenv, "MASORA_BIGQUERY_STORAGE_READ") {
		// Emulators lack the Storage Read API; tests give one separately.
		c.BigQueryStorageRead = c.BigQueryEndpoint == "" || c.BigQueryStorageReadEndpoint != ""
	}
	c.GCSPrefix = strings.Trim(c.GCSPrefix, "/")
	if c.OIDCAudience != "" && len(c.OIDCAllowedEmails) == 0 {
		errs = append(errs, envconfig.Missing("MASORA_OIDC_ALLOWED_EMAILS",
			"with MASORA_OIDC_AUDIENCE: list the Cloud Scheduler service accounts allowed to trigger runs"))
	}
	errs = append(errs, c.checkCloudSQL(getenv)...)
	if err := errors.Join(errs...); err != nil {
		return nil, invalid(err)
	}
	return c, nil
}

// validInstance matches a Cloud SQL instance connection name:
// project:region:instance, the project possibly domain-scoped
// (example.com:project).
var validInstance = regexp.MustCompile(`^([a-z0-9.-]+:)?[a-z][a-z0-9-]*:[a-z]+-[a-z]+[0-9]+:[a-z][a-z0-9-]*$`)

// checkCloudSQL reports what contradicts the Cloud SQL connector settings:
// an IP type without an instance, and, with one, a DATABASE_URL whose user is
// not an IAM database user or that has a password (IAM database
// authentication logs in with the caller's Google credentials).
func (c *Config) checkCloudSQL(getenv func(string) string) []error {
	if envconfig.Unset(getenv, "MASORA_CLOUDSQL_INSTANCE") {
		if !envconfig.Unset(getenv, "MASORA_CLOUDSQL_IP_TYPE") {
			return []error{envconfig.Invalid("MASORA_CLOUDSQL_IP_TYPE", getenv("MASORA_CLOUDSQL_IP_TYPE"),
				"only used with MASORA_CLOUDSQL_INSTANCE: set that too, or unset this")}
		}
		return nil
	}
	if c.DatabaseURL == "" || c.CloudSQLInstance == "" {
		return nil // reported by Load
	}
	pc, err := pgconn.ParseConfig(c.DatabaseURL)
	if err != nil {
		return []error{envconfig.Invalid("DATABASE_URL", envconfig.RedactPassword(c.DatabaseURL), "want a pgx connection string: "+err.Error())}
	}
	var errs []error
	if pc.Password != "" {
		errs = append(errs, envconfig.Invalid("DATABASE_URL", envconfig.RedactPassword(c.DatabaseURL),
			"want no password with MASORA_CLOUDSQL_INSTANCE: IAM database authentication logs in with Masora's Google credentials (remove the password, and PGPASSWORD)"))
	}
	if !strings.Contains(pc.User, "@") {
		errs = append(errs, envconfig.Invalid("DATABASE_URL", envconfig.RedactPassword(c.DatabaseURL),
			fmt.Sprintf("want an IAM database user with MASORA_CLOUDSQL_INSTANCE, not %q: the service account's email without .gserviceaccount.com, e.g. user=masora@my-project.iam dbname=reports", pc.User)))
	}
	return errs
}

// invalid introduces the configuration problems err lists.
func invalid(err error) error {
	return fmt.Errorf("invalid configuration (see masora -help):\n%w", err)
}

// CheckPipeline reports what is missing to run loads: the BigQuery project
// and dataset and the bucket.
func (c *Config) CheckPipeline() error {
	var errs []error
	for _, r := range []struct{ name, val string }{
		{"BIGQUERY_PROJECT", c.BigQueryProject},
		{"BIGQUERY_DATASET", c.BigQueryDataset},
		{"GCS_BUCKET", c.GCSBucket},
	} {
		if r.val == "" {
			errs = append(errs, envconfig.Missing(r.name, "to run loads"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return invalid(err)
	}
	return nil
}

// CheckServe reports whether /run and /backfill would be protected: by OIDC,
// by a bearer token, or explicitly not at all with MASORA_INSECURE_LOCAL.
func (c *Config) CheckServe() error {
	if c.OIDCAudience == "" && c.AuthToken == "" && !c.InsecureLocal {
		return invalid(errors.New("no authentication for /run and /backfill: set MASORA_OIDC_AUDIENCE and MASORA_OIDC_ALLOWED_EMAILS (Cloud Run), or MASORA_AUTH_TOKEN, or MASORA_INSECURE_LOCAL=true on a laptop"))
	}
	return nil
}

// LogValue logs every variable Masora reads, secrets and the database
// password redacted.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(c.vars().Attrs()...)
}

// validHostPort reports whether s is host:port with a port number.
func validHostPort(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n <= 65535
}
