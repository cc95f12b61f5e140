package stacktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/jackc/pgx/v5"
	"google.golang.org/api/iterator"

	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
)

// cleanupTimeout bounds each cleanup; cleanups run after the test's context is cancelled.
const cleanupTimeout = 30 * time.Second

// maxNameLen is the longest name UniqueName returns: the PostgreSQL identifier limit, which
// also fits bucket (63), dataset (1024) and queue (80) names.
const maxNameLen = 63

// UniqueName returns a fresh name for a resource of the calling test: the prefix and test
// name, lowercased, with every other character than a-z and 0-9 turned into '_', cut to fit,
// then '_' and 8 random hex digits. It starts with a letter, is at most 63 characters, never
// contains "goog", and is valid as an SQS queue, GCS bucket, BigQuery dataset and unquoted
// PostgreSQL schema name. Names differ between calls and between test processes.
func UniqueName(t testing.TB, prefix string) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("stacktest: random name suffix: %v", err)
	}
	suffix := hex.EncodeToString(b[:])
	base := sanitize(prefix + "_" + t.Name())
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		base = "t_" + base
	}
	if limit := maxNameLen - 1 - len(suffix); len(base) > limit {
		base = base[:limit]
	}
	return strings.TrimRight(base, "_") + "_" + suffix
}

func sanitize(s string) string {
	var out strings.Builder
	underscore := true // drops leading underscores and collapses runs
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			out.WriteRune(r)
			underscore = false
		} else if !underscore {
			out.WriteByte('_')
			underscore = true
		}
	}
	// GCS rejects bucket names that contain "goog" (and "google"); keep names usable everywhere.
	return strings.ReplaceAll(strings.TrimRight(out.String(), "_"), "goog", "g00g")
}

// SQSClient returns an SQS client for the stack's emulator.
func SQSClient(t testing.TB, env Env) *sqs.Client {
	t.Helper()
	if env.SQSEndpoint == "" {
		t.Fatalf("stacktest: no SQS endpoint in %s", env.Path)
	}
	return sqs.New(sqs.Options{
		Region:       env.AWSRegion,
		BaseEndpoint: aws.String(env.SQSEndpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(env.AWSAccessKeyID, env.AWSSecretAccessKey, ""),
	})
}

// QueueOption changes a queue that NewQueue creates.
type QueueOption func(*stackenv.QueueOptions)

// MaxReceiveCount sets how often a message is received before it moves to the DLQ (default 3).
func MaxReceiveCount(n int) QueueOption {
	return func(o *stackenv.QueueOptions) { o.MaxReceiveCount = n }
}

// VisibilityTimeout sets the queue's visibility timeout, in whole seconds (default 30s).
// Keep it at 3s or more: shorter ones collide with long polls on the emulator.
func VisibilityTimeout(d time.Duration) QueueOption {
	return func(o *stackenv.QueueOptions) { o.VisibilityTimeout = d }
}

// NewQueue creates a queue and its dead-letter queue for the calling test, with a redrive
// policy (maxReceiveCount 3 unless MaxReceiveCount says otherwise), and deletes both when the
// test ends.
func NewQueue(t testing.TB, env Env, opts ...QueueOption) (queueURL, dlqURL string) {
	t.Helper()
	var o stackenv.QueueOptions
	for _, opt := range opts {
		opt(&o)
	}
	client := SQSClient(t, env)
	queueURL, dlqURL, err := stackenv.CreateQueues(t.Context(), client, UniqueName(t, "q"), o)
	if dlqURL != "" {
		t.Cleanup(func() { deleteQueue(t, client, dlqURL) })
	}
	if err != nil {
		t.Fatalf("stacktest: %v", err)
	}
	t.Cleanup(func() { deleteQueue(t, client, queueURL) })
	return queueURL, dlqURL
}

func deleteQueue(t testing.TB, client *sqs.Client, queueURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_, err := client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(queueURL)})
	var gone *sqstypes.QueueDoesNotExist
	if err != nil && !errors.As(err, &gone) {
		t.Errorf("stacktest: delete SQS queue %s: %v", queueURL, err)
	}
}

// StorageClient returns a GCS client for the stack's emulator, closed when the test ends.
func StorageClient(t testing.TB, env Env) *storage.Client {
	t.Helper()
	if env.StorageEmulatorHost == "" {
		t.Fatalf("stacktest: no STORAGE_EMULATOR_HOST in %s", env.Path)
	}
	client, err := stackenv.StorageClient(t.Context(), env.StorageEmulatorHost)
	if err != nil {
		t.Fatalf("stacktest: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// NewBucket creates a bucket for the calling test and deletes it, with its objects, when the
// test ends.
func NewBucket(t testing.TB, env Env) string {
	t.Helper()
	client := StorageClient(t, env)
	name := UniqueName(t, "b")
	if err := stackenv.CreateBucket(t.Context(), client, env.BigQueryProject, name); err != nil {
		t.Fatalf("stacktest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := deleteBucket(ctx, client.Bucket(name)); err != nil {
			t.Errorf("stacktest: delete GCS bucket %s: %v", name, err)
		}
	})
	return name
}

func deleteBucket(ctx context.Context, b *storage.BucketHandle) error {
	it := b.Objects(ctx, &storage.Query{Versions: true})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if errors.Is(err, storage.ErrBucketNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list objects: %w", err)
		}
		obj := b.Object(attrs.Name)
		if attrs.Generation != 0 {
			obj = obj.Generation(attrs.Generation)
		}
		if err := obj.Delete(ctx); err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
			return fmt.Errorf("delete object %s: %w", attrs.Name, err)
		}
	}
	if err := b.Delete(ctx); err != nil && !errors.Is(err, storage.ErrBucketNotExist) {
		return err
	}
	return nil
}

// PostgresSchema creates a schema for the calling test and returns a connection string for
// DATABASE_URL's server whose search_path is that schema, so unqualified tables (and
// migrations) land there. The schema is dropped, with everything in it, when the test ends;
// close your connections first (t.Cleanup runs last-registered first).
func PostgresSchema(t testing.TB, env Env) string {
	t.Helper()
	if env.DatabaseURL == "" {
		t.Fatalf("stacktest: no DATABASE_URL in %s", env.Path)
	}
	name := UniqueName(t, "s")
	ident := pgx.Identifier{name}.Sanitize()
	if err := execSQL(t.Context(), env.DatabaseURL, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("stacktest: create PostgreSQL schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := execSQL(ctx, env.DatabaseURL, "SET lock_timeout = '10s'", "DROP SCHEMA IF EXISTS "+ident+" CASCADE"); err != nil {
			t.Errorf("stacktest: drop PostgreSQL schema %s: %v", name, err)
		}
	})
	dsn, err := withSearchPath(env.DatabaseURL, name)
	if err != nil {
		t.Fatalf("stacktest: %v", err)
	}
	return dsn
}

func execSQL(ctx context.Context, dsn string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// withSearchPath adds search_path=schema to a URL or keyword/value connection string.
func withSearchPath(dsn, schema string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse DATABASE_URL: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return strings.TrimSpace(dsn) + " search_path=" + schema, nil
}
