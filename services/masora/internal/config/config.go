// Package config owns Masora's configuration: every setting, its environment
// variable, its default and its validation, read once at start-up by Load.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

// Defaults of the optional settings.
const (
	DefaultPort            = 8080
	DefaultGCSPrefix       = layout.DefaultPrefix
	DefaultLookback        = 48 * time.Hour
	DefaultChunkFiles      = 100
	DefaultDBMaxConns      = 4
	DefaultBigQueryTimeout = 2 * time.Minute
	DefaultChunkTimeout    = 30 * time.Minute
	DefaultShutdownTimeout = 10 * time.Second
	DefaultOIDCIssuer      = "https://accounts.google.com"
	DefaultOIDCJWKSURL     = "https://www.googleapis.com/oauth2/v3/certs"
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
	// ($DATABASE_URL, required). Never log it: use RedactURL.
	DatabaseURL string
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
}

// Load reads the configuration from getenv (os.Getenv in production) and
// checks every value that is set. What a command needs beyond that is
// checked by CheckPipeline and CheckServe. The error lists every problem.
func Load(getenv func(string) string) (*Config, error) {
	p := parser{getenv: getenv}
	c := &Config{
		Port:               p.int("PORT", DefaultPort, 1, 65535),
		LogLevel:           p.level("LOG_LEVEL"),
		DatabaseURL:        getenv("DATABASE_URL"),
		DBMaxConns:         int32(p.int("MASORA_DB_MAX_CONNS", DefaultDBMaxConns, 2, 1000)),
		BigQueryProject:    getenv("BIGQUERY_PROJECT"),
		BigQueryDataset:    getenv("BIGQUERY_DATASET"),
		BigQueryLocation:   getenv("BIGQUERY_LOCATION"),
		BigQueryEndpoint:   getenv("BIGQUERY_ENDPOINT"),
		BigQueryTimeout:    p.duration("MASORA_BIGQUERY_TIMEOUT", DefaultBigQueryTimeout, time.Second),
		ChunkTimeout:       p.duration("MASORA_CHUNK_TIMEOUT", DefaultChunkTimeout, time.Second),
		BigQueryKeepTables: p.bool("MASORA_BIGQUERY_KEEP_TABLES", false),
		GCSBucket:          getenv("GCS_BUCKET"),
		GCSPrefix:          p.str("GCS_PREFIX", DefaultGCSPrefix),
		Lookback:           p.duration("MASORA_LOOKBACK", DefaultLookback, time.Hour),
		ChunkFiles:         p.int("MASORA_CHUNK_FILES", DefaultChunkFiles, 1, 10000),
		LockWait:           p.duration("MASORA_LOCK_WAIT", 0, 0),
		ShutdownTimeout:    p.duration("MASORA_SHUTDOWN_TIMEOUT", DefaultShutdownTimeout, 0),
		AuthToken:          getenv("MASORA_AUTH_TOKEN"),
		OIDCAudience:       getenv("MASORA_OIDC_AUDIENCE"),
		OIDCIssuer:         p.str("MASORA_OIDC_ISSUER", DefaultOIDCIssuer),
		OIDCJWKSURL:        p.str("MASORA_OIDC_JWKS_URL", DefaultOIDCJWKSURL),
		InsecureLocal:      p.bool("MASORA_INSECURE_LOCAL", false),
	}
	c.BigQueryStorageRead = p.bool("MASORA_BIGQUERY_STORAGE_READ", c.BigQueryEndpoint == "")
	for _, e := range strings.Split(getenv("MASORA_OIDC_ALLOWED_EMAILS"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.OIDCAllowedEmails = append(c.OIDCAllowedEmails, e)
		}
	}

	if c.DatabaseURL == "" {
		p.fail("DATABASE_URL is required: the reporting Postgres, e.g. postgres://masora@host:5432/reports")
	}
	if c.BigQueryDataset != "" && !warehouse.ValidDataset(c.BigQueryDataset) {
		p.fail("BIGQUERY_DATASET %q: must be letters, digits and underscores", c.BigQueryDataset)
	}
	if c.BigQueryProject != "" && !warehouse.ValidProject(c.BigQueryProject) {
		p.fail("BIGQUERY_PROJECT %q: not a project ID", c.BigQueryProject)
	}
	for _, u := range []struct{ name, val string }{
		{"BIGQUERY_ENDPOINT", c.BigQueryEndpoint},
		{"MASORA_OIDC_JWKS_URL", c.OIDCJWKSURL},
	} {
		if u.val == "" {
			continue
		}
		if parsed, err := url.Parse(u.val); err != nil || parsed.Host == "" || (parsed.Scheme != "http" && parsed.Scheme != "https") {
			p.fail("%s %q: want an http(s) URL", u.name, u.val)
		}
	}
	if c.OIDCAudience != "" && len(c.OIDCAllowedEmails) == 0 {
		p.fail("MASORA_OIDC_ALLOWED_EMAILS is required with MASORA_OIDC_AUDIENCE: list the Cloud Scheduler service accounts allowed to trigger runs")
	}
	if c.AuthToken != "" && len(c.AuthToken) < 16 {
		p.fail("MASORA_AUTH_TOKEN must be at least 16 characters")
	}
	c.GCSPrefix = strings.Trim(c.GCSPrefix, "/")
	if err := errors.Join(p.errs...); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

var ()

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
			errs = append(errs, fmt.Errorf("%s is required to run loads", r.name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

// CheckServe reports whether /run and /backfill would be protected: by OIDC,
// by a bearer token, or explicitly not at all with MASORA_INSECURE_LOCAL.
func (c *Config) CheckServe() error {
	if c.OIDCAudience == "" && c.AuthToken == "" && !c.InsecureLocal {
		return errors.New("configuration: no authentication for /run and /backfill: set MASORA_OIDC_AUDIENCE and MASORA_OIDC_ALLOWED_EMAILS (Cloud Run), or MASORA_AUTH_TOKEN, or MASORA_INSECURE_LOCAL=true on a laptop")
	}
	return nil
}

// LogValue logs the configuration with its secrets redacted.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("port", c.Port),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("database_url", RedactURL(c.DatabaseURL)),
		slog.Int("db_max_conns", int(c.DBMaxConns)),
		slog.String("bigquery_project", c.BigQueryProject),
		slog.String("bigquery_dataset", c.BigQueryDataset),
		slog.String("bigquery_location", c.BigQueryLocation),
		slog.String("bigquery_endpoint", c.BigQueryEndpoint),
		slog.Bool("bigquery_storage_read", c.BigQueryStorageRead),
		slog.Duration("bigquery_timeout", c.BigQueryTimeout),
		slog.Bool("bigquery_keep_tables", c.BigQueryKeepTables),
		slog.Duration("chunk_timeout", c.ChunkTimeout),
		slog.String("gcs_bucket", c.GCSBucket),
		slog.String("gcs_prefix", c.GCSPrefix),
		slog.Duration("lookback", c.Lookback),
		slog.Int("chunk_files", c.ChunkFiles),
		slog.Duration("lock_wait", c.LockWait),
		slog.Bool("auth_token_set", c.AuthToken != ""),
		slog.String("oidc_audience", c.OIDCAudience),
		slog.Any("oidc_allowed_emails", c.OIDCAllowedEmails),
		slog.String("oidc_issuer", c.OIDCIssuer),
		slog.String("oidc_jwks_url", c.OIDCJWKSURL),
		slog.Bool("insecure_local", c.InsecureLocal),
	)
}

// passwordPattern finds the password of a keyword/value connection string.
var passwordPattern = regexp.MustCompile(`(?i)(password\s*=\s*)('(\\.|[^'])*'|\S+)`)

// RedactURL returns a Postgres connection string (URL or keyword/value
// form) with its password replaced by "xxxxx", fit for logs and errors.
func RedactURL(dsn string) string {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "(unparsable connection URL)"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return passwordPattern.ReplaceAllString(dsn, "${1}xxxxx")
}

// parser reads typed settings and collects every problem.
type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) fail(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

func (p *parser) str(name, def string) string {
	if v := p.getenv(name); v != "" {
		return v
	}
	return def
}

func (p *parser) int(name string, def, lo, hi int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail("%s %q: want a whole number from %d to %d", name, v, lo, hi)
		return def
	}
	return n
}

func (p *parser) duration(name string, def, lo time.Duration) time.Duration {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		p.fail("%s %q: want a duration of at least %s, e.g. 90s, 48h", name, v, lo)
		return def
	}
	return d
}

func (p *parser) bool(name string, def bool) bool {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail("%s %q: want true or false", name, v)
		return def
	}
	return b
}

func (p *parser) level(name string) slog.Level {
	var l slog.Level
	v := p.getenv(name)
	if v == "" {
		return slog.LevelInfo
	}
	if err := l.UnmarshalText([]byte(v)); err != nil {
		p.fail("%s %q: want debug, info, warn or error", name, v)
		return slog.LevelInfo
	}
	return l
}
