package config_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/services/masora/internal/config"
	"github.com/ore-masora/pipeline/services/masora/internal/dbconn"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	got, err := config.Load(env(map[string]string{"DATABASE_URL": "postgres://u:p@h/db"}))
	if err != nil {
		t.Fatal(err)
	}
	want := &config.Config{
		Port:                8080,
		LogLevel:            slog.LevelInfo,
		DatabaseURL:         "postgres://u:p@h/db",
		CloudSQLIPType:      dbconn.PublicIP,
		DBMaxConns:          4,
		BigQueryStorageRead: true,
		BigQueryTimeout:     2 * time.Minute,
		ChunkTimeout:        30 * time.Minute,
		GCSPrefix:           "logs",
		Lookback:            48 * time.Hour,
		ChunkFiles:          100,
		ChunkAttempts:       5,
		BackfillMaxRange:    744 * time.Hour,
		ShutdownTimeout:     10 * time.Second,
		OIDCIssuer:          "https://accounts.google.com",
		OIDCJWKSURL:         "https://www.googleapis.com/oauth2/v3/certs",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load defaults mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadAll(t *testing.T) {
	got, err := config.Load(env(map[string]string{
		"PORT":                         "9090",
		"LOG_LEVEL":                    "debug",
		"DATABASE_URL":                 "postgres://h/db",
		"MASORA_DB_MAX_CONNS":          "8",
		"BIGQUERY_PROJECT":             "local-project",
		"BIGQUERY_DATASET":             "masora_tmp",
		"BIGQUERY_LOCATION":            "EU",
		"BIGQUERY_ENDPOINT":            "http://127.0.0.1:9050",
		"MASORA_BIGQUERY_TIMEOUT":      "15s",
		"MASORA_CHUNK_TIMEOUT":         "5m",
		"MASORA_BIGQUERY_KEEP_TABLES":  "true",
		"GCS_BUCKET":                   "logs-bucket",
		"GCS_PREFIX":                   "/raw/",
		"MASORA_LOOKBACK":              "72h",
		"MASORA_CHUNK_FILES":           "20",
		"MASORA_LOCK_WAIT":             "30s",
		"MASORA_CHUNK_ATTEMPTS":        "3",
		"MASORA_BACKFILL_MAX_RANGE":    "24h",
		"MASORA_SHUTDOWN_TIMEOUT":      "5s",
		"MASORA_AUTH_TOKEN":            "0123456789abcdef",
		"MASORA_OIDC_AUDIENCE":         "https://masora.example",
		"MASORA_OIDC_ALLOWED_EMAILS":   " a@p.iam.gserviceaccount.com, b@p.iam.gserviceaccount.com ,",
		"MASORA_OIDC_ISSUER":           "https://issuer.example",
		"MASORA_OIDC_JWKS_URL":         "http://127.0.0.1:1/jwks",
		"MASORA_INSECURE_LOCAL":        "true",
		"MASORA_BIGQUERY_STORAGE_READ": "true",
		"MASORA_DLQ_URL":               "https://sqs.eu-west-1.amazonaws.com/123456789012/ore-events-dlq",
		"AWS_REGION":                   "eu-west-1",
		"SQS_ENDPOINT":                 "http://127.0.0.1:9324",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := &config.Config{
		Port:                9090,
		LogLevel:            slog.LevelDebug,
		DatabaseURL:         "postgres://h/db",
		CloudSQLIPType:      dbconn.PublicIP,
		DBMaxConns:          8,
		BigQueryProject:     "local-project",
		BigQueryDataset:     "masora_tmp",
		BigQueryLocation:    "EU",
		BigQueryEndpoint:    "http://127.0.0.1:9050",
		BigQueryStorageRead: true,
		BigQueryTimeout:     15 * time.Second,
		ChunkTimeout:        5 * time.Minute,
		BigQueryKeepTables:  true,
		GCSBucket:           "logs-bucket",
		GCSPrefix:           "raw",
		Lookback:            72 * time.Hour,
		ChunkFiles:          20,
		ChunkAttempts:       3,
		BackfillMaxRange:    24 * time.Hour,
		LockWait:            30 * time.Second,
		ShutdownTimeout:     5 * time.Second,
		AuthToken:           "0123456789abcdef",
		OIDCAudience:        "https://masora.example",
		OIDCAllowedEmails:   []string{"a@p.iam.gserviceaccount.com", "b@p.iam.gserviceaccount.com"},
		OIDCIssuer:          "https://issuer.example",
		OIDCJWKSURL:         "http://127.0.0.1:1/jwks",
		InsecureLocal:       true,
		DLQURL:              "https://sqs.eu-west-1.amazonaws.com/123456789012/ore-events-dlq",
		AWSRegion:           "eu-west-1",
		SQSEndpoint:         "http://127.0.0.1:9324",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadCloudSQL(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  map[string]string
		want *config.Config
	}{
		{"PublicByDefault", map[string]string{
			"DATABASE_URL": "user=ore-masora-masora@my-project.iam dbname=reports", "MASORA_CLOUDSQL_INSTANCE": "my-project:europe-west1:ore-masora",
		}, &config.Config{
			DatabaseURL: "user=ore-masora-masora@my-project.iam dbname=reports", CloudSQLInstance: "my-project:europe-west1:ore-masora", CloudSQLIPType: dbconn.PublicIP,
		}},
		{"PrivateDomainScopedURL", map[string]string{
			"DATABASE_URL":             "postgres://masora%40my-project.iam@/reports",
			"MASORA_CLOUDSQL_INSTANCE": "example.com:my-project:us-central1:reports", "MASORA_CLOUDSQL_IP_TYPE": "PRIVATE",
		}, &config.Config{
			DatabaseURL:      "postgres://masora%40my-project.iam@/reports",
			CloudSQLInstance: "example.com:my-project:us-central1:reports", CloudSQLIPType: dbconn.PrivateIP,
		}},
		{"PSC", map[string]string{
			"DATABASE_URL": "user=me@example.com dbname=reports", "MASORA_CLOUDSQL_INSTANCE": "p1:asia-southeast1:i", "MASORA_CLOUDSQL_IP_TYPE": "psc",
		}, &config.Config{DatabaseURL: "user=me@example.com dbname=reports", CloudSQLInstance: "p1:asia-southeast1:i", CloudSQLIPType: dbconn.PSC}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.Load(env(tc.set))
			if err != nil {
				t.Fatal(err)
			}
			keep := cmp.FilterPath(func(p cmp.Path) bool {
				switch p.Last().String() {
				case ".DatabaseURL", ".CloudSQLInstance", ".CloudSQLIPType":
					return false
				}
				return len(p) > 2 // a field of the Config
			}, cmp.Ignore())
			if diff := cmp.Diff(tc.want, got, keep); diff != "" {
				t.Errorf("Load mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStorageReadDefaultsOffWithEndpoint(t *testing.T) {
	got, err := config.Load(env(map[string]string{"DATABASE_URL": "postgres://h/db", "BIGQUERY_ENDPOINT": "http://127.0.0.1:9050"}))
	if err != nil {
		t.Fatal(err)
	}
	if got.BigQueryStorageRead {
		t.Error("BigQueryStorageRead = true with BIGQUERY_ENDPOINT set and MASORA_BIGQUERY_STORAGE_READ unset, want false")
	}
}

func TestStorageReadDefaultsOnWithItsEndpoint(t *testing.T) {
	got, err := config.Load(env(map[string]string{
		"DATABASE_URL": "postgres://h/db", "BIGQUERY_ENDPOINT": "http://127.0.0.1:9050", "BIGQUERY_STORAGE_READ_ENDPOINT": "127.0.0.1:9060",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !got.BigQueryStorageRead || got.BigQueryStorageReadEndpoint != "127.0.0.1:9060" {
		t.Errorf("BigQueryStorageRead = %v, BigQueryStorageReadEndpoint = %q with both endpoints set, want true and 127.0.0.1:9060",
			got.BigQueryStorageRead, got.BigQueryStorageReadEndpoint)
	}
}

func TestLoadErrors(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://h/db"}
	tests := []struct {
		name string
		set  map[string]string
		want []string // the lines after the first
	}{
		{"no database", map[string]string{"DATABASE_URL": ""}, []string{
			"DATABASE_URL is required: the reporting Postgres, a pgx connection string, e.g. postgres://masora@host:5432/reports"}},
		{"bad port", map[string]string{"PORT": "http"}, []string{`PORT="http": want a whole number from 1 to 65535`}},
		{"port range", map[string]string{"PORT": "70000"}, []string{`PORT="70000": want a whole number from 1 to 65535`}},
		{"bad level", map[string]string{"LOG_LEVEL": "loud"}, []string{`LOG_LEVEL="loud": want debug, info, warn or error`}},
		{"pool too small", map[string]string{"MASORA_DB_MAX_CONNS": "1"}, []string{`MASORA_DB_MAX_CONNS="1": want a whole number from 2 to 1000`}},
		{"bad lookback", map[string]string{"MASORA_LOOKBACK": "2"}, []string{`MASORA_LOOKBACK="2": want a duration like 90s or 2m, at least 1h`}},
		{"lookback under an hour", map[string]string{"MASORA_LOOKBACK": "30m"}, []string{`MASORA_LOOKBACK="30m": want a duration like 90s or 2m, at least 1h`}},
		{"negative lock wait", map[string]string{"MASORA_LOCK_WAIT": "-1s"}, []string{`MASORA_LOCK_WAIT="-1s": want a duration like 90s or 2m, at least 0s`}},
		{"bad chunk", map[string]string{"MASORA_CHUNK_FILES": "0"}, []string{`MASORA_CHUNK_FILES="0": want a whole number from 1 to 10000`}},
		{"no chunk attempt", map[string]string{"MASORA_CHUNK_ATTEMPTS": "0"}, []string{`MASORA_CHUNK_ATTEMPTS="0": want a whole number from 1 to 100`}},
		{"backfill range under an hour", map[string]string{"MASORA_BACKFILL_MAX_RANGE": "10m"}, []string{`MASORA_BACKFILL_MAX_RANGE="10m": want a duration like 90s or 2m, at least 1h`}},
		{"bad bool", map[string]string{"MASORA_INSECURE_LOCAL": "yes please"}, []string{`MASORA_INSECURE_LOCAL="yes please": want true or false`}},
		{"bad dataset", map[string]string{"BIGQUERY_DATASET": "a-b`c"}, []string{"BIGQUERY_DATASET=\"a-b`c\": want a dataset ID: letters, digits and underscores"}},
		{"bad project", map[string]string{"BIGQUERY_PROJECT": "Bad Project"}, []string{`BIGQUERY_PROJECT="Bad Project": want a Google Cloud project ID, like my-project`}},
		{"bad endpoint", map[string]string{"BIGQUERY_ENDPOINT": "127.0.0.1:9050"}, []string{`BIGQUERY_ENDPOINT="127.0.0.1:9050": want an http or https URL, like https://host:port`}},
		{"bad storage read endpoint", map[string]string{"BIGQUERY_STORAGE_READ_ENDPOINT": "http://127.0.0.1:9060"}, []string{`BIGQUERY_STORAGE_READ_ENDPOINT="http://127.0.0.1:9060": want host:port`}},
		{"bad JWKS URL", map[string]string{"MASORA_OIDC_JWKS_URL": "file:///keys"}, []string{`MASORA_OIDC_JWKS_URL="file:///keys": want an http or https URL, like https://host:port`}},
		{"oidc without emails", map[string]string{"MASORA_OIDC_AUDIENCE": "https://x", "MASORA_OIDC_ALLOWED_EMAILS": " , "}, []string{
			"MASORA_OIDC_ALLOWED_EMAILS is required with MASORA_OIDC_AUDIENCE: list the Cloud Scheduler service accounts allowed to trigger runs"}},
		{"bad Cloud SQL instance", map[string]string{"DATABASE_URL": "user=m@p.iam dbname=r", "MASORA_CLOUDSQL_INSTANCE": "reports"}, []string{
			`MASORA_CLOUDSQL_INSTANCE="reports": want a Cloud SQL instance connection name, project:region:instance`}},
		{"bad Cloud SQL IP type", map[string]string{"DATABASE_URL": "user=m@p.iam dbname=r", "MASORA_CLOUDSQL_INSTANCE": "p:europe-west1:i", "MASORA_CLOUDSQL_IP_TYPE": "vpc"}, []string{
			`MASORA_CLOUDSQL_IP_TYPE="vpc": want public, private or psc`}},
		{"IP type without instance", map[string]string{"MASORA_CLOUDSQL_IP_TYPE": "private"}, []string{
			`MASORA_CLOUDSQL_IP_TYPE="private": only used with MASORA_CLOUDSQL_INSTANCE: set that too, or unset this`}},
		{"Cloud SQL with a password and no IAM user", map[string]string{"DATABASE_URL": "postgres://masora:pw@h/reports", "MASORA_CLOUDSQL_INSTANCE": "p:europe-west1:i"}, []string{
			`DATABASE_URL="postgres://masora:xxxxx@h/reports": want no password with MASORA_CLOUDSQL_INSTANCE: IAM database authentication logs in with Masora's Google credentials (remove the password, and PGPASSWORD)`,
			`DATABASE_URL="postgres://masora:xxxxx@h/reports": want an IAM database user with MASORA_CLOUDSQL_INSTANCE, not "masora": the service account's email without .gserviceaccount.com, e.g. user=masora@my-project.iam dbname=reports`}},
		{"Cloud SQL with an unparsable URL", map[string]string{"DATABASE_URL": "postgres://%zz", "MASORA_CLOUDSQL_INSTANCE": "p:europe-west1:i"}, []string{
			`DATABASE_URL="(unparsable connection URL)": want a pgx connection string: cannot parse ` + "`postgres://%zz`" + `: failed to parse as URL (invalid percent-encoded token: "%zz")`}},
		{"bad DLQ URL", map[string]string{"MASORA_DLQ_URL": "ore-events-dlq"}, []string{`MASORA_DLQ_URL="ore-events-dlq": want an http or https URL, like https://host:port`}},
		{"bad SQS endpoint", map[string]string{"SQS_ENDPOINT": "127.0.0.1:9324"}, []string{`SQS_ENDPOINT="127.0.0.1:9324": want an http or https URL, like https://host:port`}},
		{"short token", map[string]string{"MASORA_AUTH_TOKEN": "secret"}, []string{"MASORA_AUTH_TOKEN=[redacted]: want at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (a bearer token)"}},
		{"token with a space", map[string]string{"MASORA_AUTH_TOKEN": "not a bearer token at all"}, []string{"MASORA_AUTH_TOKEN=[redacted]: want at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (a bearer token)"}},
		{"every problem at once", map[string]string{"DATABASE_URL": "", "PORT": "x", "MASORA_CHUNK_FILES": "-1"}, []string{
			`PORT="x": want a whole number from 1 to 65535`,
			"DATABASE_URL is required: the reporting Postgres, a pgx connection string, e.g. postgres://masora@host:5432/reports",
			`MASORA_CHUNK_FILES="-1": want a whole number from 1 to 10000`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range base {
				m[k] = v
			}
			for k, v := range tt.set {
				m[k] = v
			}
			_, err := config.Load(env(m))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			want := append([]string{"invalid configuration (see masora -help):"}, tt.want...)
			if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChecks(t *testing.T) {
	tests := []struct {
		name         string
		env          map[string]string
		pipelineErr  bool
		serveErr     bool
		pipelineWant string
	}{
		{name: "nothing", env: map[string]string{}, pipelineErr: true, serveErr: true, pipelineWant: "BIGQUERY_PROJECT"},
		{name: "token", env: map[string]string{"MASORA_AUTH_TOKEN": "0123456789abcdef", "BIGQUERY_PROJECT": "local-project", "BIGQUERY_DATASET": "d", "GCS_BUCKET": "b"}},
		{name: "oidc", env: map[string]string{"MASORA_OIDC_AUDIENCE": "https://x", "MASORA_OIDC_ALLOWED_EMAILS": "a@b", "GCS_BUCKET": "b"}, pipelineErr: true, pipelineWant: "BIGQUERY_DATASET"},
		{name: "insecure", env: map[string]string{"MASORA_INSECURE_LOCAL": "true"}, pipelineErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env["DATABASE_URL"] = "postgres://h/db"
			c, err := config.Load(env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckPipeline()
			if (err != nil) != tt.pipelineErr || (err != nil && !strings.Contains(err.Error(), tt.pipelineWant)) {
				t.Errorf("CheckPipeline() = %v, want error %v mentioning %q", err, tt.pipelineErr, tt.pipelineWant)
			}
			if err := c.CheckServe(); (err != nil) != tt.serveErr {
				t.Errorf("CheckServe() = %v, want error %v", err, tt.serveErr)
			}
		})
	}
}

func TestLogValueHidesSecrets(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"DATABASE_URL":      "postgres://masora:topsecretpw@db/reports",
		"MASORA_AUTH_TOKEN": "tokensecret-0123456789",
	}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "config", c)
	for _, secret := range []string{"topsecretpw", "tokensecret"} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("logged configuration contains the secret %q: %s", secret, b.String())
		}
	}
	for _, want := range []string{`"masora_auth_token":"[redacted]"`, `"database_url":"postgres://masora:xxxxx@db/reports"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("logged configuration does not contain %s: %s", want, b.String())
		}
	}
}
