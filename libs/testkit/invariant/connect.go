package invariant

import (
	"cmp"
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
)

// Connect opens a Target from the variables the services read, as getenv
// returns them: DATABASE_URL, STORAGE_EMULATOR_HOST, GCS_BUCKET, GCS_PREFIX
// (default layout.DefaultPrefix), SQS_ENDPOINT, SQS_QUEUE_URL and
// SQS_DLQ_URL (the queues are not checked without SQS_ENDPOINT). The demo,
// the chaos suite and load runs describe their pipeline that way. Close
// releases the connections.
func Connect(ctx context.Context, getenv func(string) string) (t Target, close func(), err error) {
	for _, k := range []string{stackenv.KeyDatabaseURL, stackenv.KeyStorageEmulator, stackenv.KeyGCSBucket} {
		if getenv(k) == "" {
			return Target{}, nil, fmt.Errorf("invariant: %s is not set", k)
		}
	}
	conn, err := pgx.Connect(ctx, getenv(stackenv.KeyDatabaseURL))
	if err != nil {
		return Target{}, nil, fmt.Errorf("invariant: connect to Postgres: %w", err)
	}
	gcs, err := stackenv.StorageClient(ctx, getenv(stackenv.KeyStorageEmulator))
	if err != nil {
		conn.Close(ctx)
		return Target{}, nil, fmt.Errorf("invariant: %w", err)
	}
	t = Target{
		DB:     conn,
		Bucket: gcs.Bucket(getenv(stackenv.KeyGCSBucket)),
		Prefix: cmp.Or(getenv("GCS_PREFIX"), layout.DefaultPrefix),
	}
	if ep := getenv(stackenv.KeySQSEndpoint); ep != "" {
		t.SQS = stackenv.SQSClient(ep)
		t.QueueURL, t.DLQURL = getenv(stackenv.KeySQSQueueURL), getenv(stackenv.KeySQSDLQURL)
	}
	return t, func() {
		conn.Close(context.WithoutCancel(ctx))
		gcs.Close()
	}, nil
}
