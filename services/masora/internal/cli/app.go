package cli

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ore-masora/pipeline/libs/envconfig"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/schemas"
	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/config"
	"github.com/ore-masora/pipeline/services/masora/internal/dbconn"
	"github.com/ore-masora/pipeline/services/masora/internal/dlq"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
	"github.com/ore-masora/pipeline/services/masora/internal/metrics"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
	"github.com/ore-masora/pipeline/services/masora/internal/server"
	"github.com/ore-masora/pipeline/services/masora/internal/source"
	"github.com/ore-masora/pipeline/services/masora/internal/statuspage"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

// app is the wired service.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	reg     *schema.Registry
	pool    *pgxpool.Pool
	metrics *metrics.Metrics
	ledger  *ledger.Ledger
	loader  *loader.Loader
	bucket  *source.Bucket
	wh      *warehouse.Warehouse
	runner  *run.Runner
	closers []func()
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// defaultConnectTimeout bounds connecting to Postgres when DATABASE_URL
// does not say (connect_timeout).
const defaultConnectTimeout = 10 * time.Second

// database says how to reach the reporting Postgres: DATABASE_URL's host, or
// the Cloud SQL connector's dialer when MASORA_CLOUDSQL_INSTANCE is set. Call
// the returned func once the last connection is closed.
func database(ctx context.Context, cfg *config.Config) (dbconn.Options, func(), error) {
	o := dbconn.Options{DatabaseURL: cfg.DatabaseURL, MaxConns: cfg.DBMaxConns, ConnectTimeout: defaultConnectTimeout}
	if cfg.CloudSQLInstance == "" {
		return o, func() {}, nil
	}
	d, err := dbconn.NewCloudSQLDialer(ctx, cfg.CloudSQLIPType)
	if err != nil {
		return o, nil, fmt.Errorf("MASORA_CLOUDSQL_INSTANCE=%s: %w", cfg.CloudSQLInstance, err)
	}
	o.Instance, o.Dialer = cfg.CloudSQLInstance, d
	return o, func() { d.Close() }, nil
}

// openPool connects the reporting Postgres's pool.
func openPool(ctx context.Context, cfg *config.Config, db dbconn.Options) (*pgxpool.Pool, error) {
	pool, err := dbconn.Pool(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", describeDatabase(cfg), err)
	}
	return pool, nil
}

// describeDatabase names the reporting Postgres in errors, without password.
func describeDatabase(cfg *config.Config) string {
	if cfg.CloudSQLInstance != "" {
		return fmt.Sprintf("%s through Cloud SQL instance %s", envconfig.RedactPassword(cfg.DatabaseURL), cfg.CloudSQLInstance)
	}
	return envconfig.RedactPassword(cfg.DatabaseURL)
}

// connConfig returns the configuration of one connection to the reporting
// Postgres (migrations, status), with the closer of its dialer.
func connConfig(ctx context.Context, cfg *config.Config) (*pgx.ConnConfig, func(), error) {
	db, closeDB, err := database(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	cc, err := dbconn.ConnConfig(db)
	if err != nil {
		closeDB()
		return nil, nil, err
	}
	return cc, closeDB, nil
}

// newBigQuery returns the BigQuery client of cfg: the emulator's endpoint
// without authentication when BIGQUERY_ENDPOINT is set, and the Storage Read
// API client when MASORA_BIGQUERY_STORAGE_READ is on (at
// BIGQUERY_STORAGE_READ_ENDPOINT, plaintext, when that is set).
func newBigQuery(ctx context.Context, cfg *config.Config) (*bigquery.Client, error) {
	var bqOpts []option.ClientOption
	if cfg.BigQueryEndpoint != "" {
		bqOpts = append(bqOpts, option.WithEndpoint(cfg.BigQueryEndpoint), option.WithoutAuthentication())
	}
	bq, err := bigquery.NewClient(ctx, cfg.BigQueryProject, bqOpts...)
	if err != nil {
		return nil, fmt.Errorf("BigQuery client for project %s: %w", cfg.BigQueryProject, err)
	}
	if cfg.BigQueryStorageRead {
		var readOpts []option.ClientOption
		if cfg.BigQueryStorageReadEndpoint != "" {
			readOpts = append(readOpts, option.WithEndpoint(cfg.BigQueryStorageReadEndpoint), option.WithoutAuthentication(),
				option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		}
		if err := bq.EnableStorageReadClient(ctx, readOpts...); err != nil {
			bq.Close()
			return nil, fmt.Errorf("BigQuery Storage Read API client (set MASORA_BIGQUERY_STORAGE_READ=false to read pages instead): %w", err)
		}
	}
	return bq, nil
}

// build wires every part of the service from the configuration.
func build(ctx context.Context, cfg *config.Config, log *slog.Logger) (a *app, err error) {
	if err := cfg.CheckPipeline(); err != nil {
		return nil, usageError{err}
	}
	a = &app{cfg: cfg, log: log, metrics: metrics.New()}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	reg := schema.MustLoad()
	a.reg = reg

	db, closeDB, err := database(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, closeDB)
	pool, err := openPool(ctx, cfg, db)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, pool.Close)
	a.pool = pool
	a.ledger = ledger.New(pool)
	if a.loader, err = loader.New(pool, reg, loader.Options{}); err != nil {
		return nil, err
	}

	bq, err := newBigQuery(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { bq.Close() })
	transforms, err := fs.Sub(schemas.LogTypes, "logtypes")
	if err != nil {
		return nil, err
	}
	a.wh, err = warehouse.New(bq, reg, transforms, warehouse.Options{
		Dataset: cfg.BigQueryDataset, Location: cfg.BigQueryLocation, CallTimeout: cfg.BigQueryTimeout,
		KeepTables: cfg.BigQueryKeepTables,
	})
	if err != nil {
		return nil, err
	}

	gcs, err := storage.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("Cloud Storage client: %w", err)
	}
	a.closers = append(a.closers, func() { gcs.Close() })
	a.bucket = source.New(gcs, cfg.GCSBucket, cfg.GCSPrefix)

	a.runner = run.New(run.Deps{
		Registry: reg, Objects: a.bucket, Inspector: a.bucket, Warehouse: a.wh, Loader: a.loader, Ledger: a.ledger,
		Quarantine: &run.Quarantine{Records: a.bucket, Loader: a.loader},
		Metrics:    a.metrics, Log: log,
	}, run.Options{
		Lookback: cfg.Lookback, ChunkFiles: cfg.ChunkFiles, ChunkTimeout: cfg.ChunkTimeout, LockWait: cfg.LockWait,
		StorageRead: cfg.BigQueryStorageRead, Attempts: cfg.ChunkAttempts, MaxBackfill: cfg.BackfillMaxRange,
	})
	return a, nil
}

// handler returns the HTTP handler of `masora serve`.
func (a *app) handler(ctx context.Context) (http.Handler, error) {
	authn, err := auth.New(ctx, auth.Options{
		Token: a.cfg.AuthToken, Audience: a.cfg.OIDCAudience, AllowedEmails: a.cfg.OIDCAllowedEmails,
		Issuer: a.cfg.OIDCIssuer, JWKSURL: a.cfg.OIDCJWKSURL, InsecureLocal: a.cfg.InsecureLocal,
	})
	if err != nil {
		return nil, fmt.Errorf("authentication: %w", err)
	}
	if a.cfg.InsecureLocal && a.cfg.AuthToken == "" && a.cfg.OIDCAudience == "" {
		a.log.Warn("MASORA_INSECURE_LOCAL=true: /run, /backfill and /runs accept unauthenticated requests; never do this on a reachable host")
	}
	return server.New(server.Deps{
		Runner: a.runner, History: a.ledger, Auth: authn, Metrics: a.metrics, Log: a.log,
		Ready:       map[string]server.Checker{"postgres": a.loader, "bigquery": a.wh, "storage": a.bucket},
		Page:        a.statusPage(ctx),
		MaxBackfill: a.cfg.BackfillMaxRange,
	}), nil
}

// statusPage returns the status page served at /, with the DLQ's depth
// when MASORA_DLQ_URL is set.
func (a *app) statusPage(ctx context.Context) *statuspage.Page {
	// The quarantine pass has runs and a manifest like a log type: its card
	// shows how fresh the loaded quarantine is and its last runs.
	o := statuspage.Options{Pool: a.pool, LogTypes: append(a.reg.Names(), run.QuarantineLogType), Log: a.log,
		DLQUnsetReason: "MASORA_DLQ_URL is not set"}
	if a.cfg.DLQURL != "" {
		o.DLQ = dlq.New(ctx, dlq.Options{URL: a.cfg.DLQURL, Region: a.cfg.AWSRegion, Endpoint: a.cfg.SQSEndpoint})
	}
	return statuspage.New(o)
}
