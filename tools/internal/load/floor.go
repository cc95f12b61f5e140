package load

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/invariant"
	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
	"github.com/ore-masora/pipeline/tools/internal/chaos/svcproc"
)

// DrainRound is one interleaved pair of drains of the same number of
// preloaded messages from fauxqs: Ore in poll mode (a real process, from
// its start to an empty queue: parquet files written, messages deleted)
// and the floor, a plain loop of ReceiveMessage + DeleteMessageBatch with
// as many receivers as Ore has.
type DrainRound struct {
	Messages     int     `json:"messages"`
	OrePerSec    float64 `json:"ore_per_second"`
	FloorPerSec  float64 `json:"floor_per_second"`
	RatioToFloor float64 `json:"ratio_to_floor"`
}

// CopyFloor sets Masora's load rate in the run beside raw pgx CopyFrom of
// the same rows into a table like user_actions, on the same Postgres.
type CopyFloor struct {
	Rows int `json:"rows"`
	// FloorPerSec is raw CopyFrom's rows a second.
	FloorPerSec float64 `json:"floor_per_second"`
	// MasoraPerSec is the rows Masora loaded over its runs' wall time;
	// MasoraOwnPerSec the same without the time its BigQuery calls took
	// (the emulator's share).
	MasoraPerSec    float64 `json:"masora_per_second"`
	MasoraOwnPerSec float64 `json:"masora_own_per_second"`
	RatioToFloor    float64 `json:"ratio_to_floor"`
	OwnRatioToFloor float64 `json:"own_ratio_to_floor"`
}

// copyFloor times a raw CopyFrom of user_actions' rows into a temporary
// table like it.
func copyFloor(ctx context.Context, db *pgx.Conn) (rows int, perSec float64, err error) {
	r, err := db.Query(ctx, `SELECT * FROM user_actions`)
	if err != nil {
		return 0, 0, fmt.Errorf("copy floor: read user_actions: %w", err)
	}
	var cols []string
	for _, f := range r.FieldDescriptions() {
		cols = append(cols, f.Name)
	}
	var vals [][]any
	for r.Next() {
		v, err := r.Values()
		if err != nil {
			r.Close()
			return 0, 0, fmt.Errorf("copy floor: read user_actions: %w", err)
		}
		vals = append(vals, v)
	}
	if err := r.Err(); err != nil {
		return 0, 0, fmt.Errorf("copy floor: read user_actions: %w", err)
	}
	if len(vals) == 0 {
		return 0, 0, nil
	}
	if _, err := db.Exec(ctx, `CREATE TEMPORARY TABLE load_copy_floor (LIKE user_actions INCLUDING ALL)`); err != nil {
		return 0, 0, fmt.Errorf("copy floor: %w", err)
	}
	defer db.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS load_copy_floor`)
	start := time.Now()
	n, err := db.CopyFrom(ctx, pgx.Identifier{"load_copy_floor"}, cols, pgx.CopyFromRows(vals))
	if err != nil {
		return 0, 0, fmt.Errorf("copy floor: CopyFrom: %w", err)
	}
	return int(n), float64(n) / time.Since(start).Seconds(), nil
}

// drainFloor runs rounds of interleaved drains of n messages each: Ore,
// then the floor loop, each on a fresh queue of its own.
func drainFloor(ctx context.Context, st stackenv.Env, reg *schema.Registry, bins svcproc.Binaries, oreEnv svcproc.Env, n, rounds int, logs io.Writer) ([]DrainRound, error) {
	client := stackenv.SQSClient(st.SQSEndpoint)
	var out []DrainRound
	for i := range rounds {
		name := "load-floor-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		ore, err := drainOnce(ctx, client, reg, name+"-ore", n, func(queueURL string) (stop func(), err error) {
			p, err := svcproc.Start(bins.Ore, nil, oreEnv.With("SQS_ENDPOINT", st.SQSEndpoint, "SQS_QUEUE_URL", queueURL,
				"STORAGE_EMULATOR_HOST", st.StorageEmulatorHost, "GCS_PREFIX", fmt.Sprintf("floor-%d", i)), logs)
			if err != nil {
				return nil, err
			}
			return func() { _ = p.Stop(30 * time.Second) }, nil
		})
		if err != nil {
			return out, fmt.Errorf("drain floor, Ore: %w", err)
		}
		floor, err := drainOnce(ctx, client, reg, name+"-floor", n, func(queueURL string) (func(), error) {
			return receiveDeleteLoop(ctx, client, queueURL), nil
		})
		if err != nil {
			return out, fmt.Errorf("drain floor, receive-delete loop: %w", err)
		}
		out = append(out, DrainRound{Messages: n, OrePerSec: ore, FloorPerSec: floor, RatioToFloor: ore / floor})
	}
	return out, nil
}

// drainOnce preloads n events into a new queue, starts a consumer and
// returns its messages a second from its start until the queue is empty.
func drainOnce(ctx context.Context, client *sqs.Client, reg *schema.Registry, name string, n int, consume func(queueURL string) (stop func(), err error)) (float64, error) {
	queueURL, dlqURL, err := stackenv.CreateQueues(ctx, client, name, stackenv.QueueOptions{VisibilityTimeout: 30 * time.Second, MaxReceiveCount: 10})
	if err != nil {
		return 0, err
	}
	defer func() {
		for _, u := range []string{queueURL, dlqURL} {
			_, _ = client.DeleteQueue(context.WithoutCancel(ctx), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
		}
	}()
	prod, err := producer.New(client, producer.Options{QueueURL: queueURL, Registry: reg})
	if err != nil {
		return 0, err
	}
	pub, err := newPublisher(prod, reg, uint64(time.Now().UnixNano()), time.Now().UTC(), 0)
	if err != nil {
		return 0, err
	}
	if err := pub.runAll(ctx, n); err != nil {
		return 0, err
	}
	start := time.Now()
	stop, err := consume(queueURL)
	if err != nil {
		return 0, err
	}
	err = waitDrained(ctx, client, queueURL, 100*time.Millisecond, 5*time.Minute)
	elapsed := time.Since(start)
	stop()
	if err != nil {
		return 0, err
	}
	return float64(n) / elapsed.Seconds(), nil
}

// floorReceivers is the receive-delete loop's concurrency: Ore's default
// ORE_POLL_RECEIVERS.
const floorReceivers = 8

// receiveDeleteLoop starts floorReceivers goroutines that receive and
// delete until stopped.
func receiveDeleteLoop(ctx context.Context, client *sqs.Client, queueURL string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range floorReceivers {
		wg.Go(func() {
			for ctx.Err() == nil {
				out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
					QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
					MessageAttributeNames: []string{"All"}, MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
				})
				if err != nil || len(out.Messages) == 0 {
					continue
				}
				entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(out.Messages))
				for i, m := range out.Messages {
					entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
				}
				_, _ = client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// waitDrained polls the queue every interval until it holds no visible
// and no in-flight message, or fails after within.
func waitDrained(ctx context.Context, client *sqs.Client, queueURL string, interval, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		visible, hidden, err := invariant.QueueDepth(ctx, client, queueURL)
		if err != nil {
			return err
		}
		if visible+hidden == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queue not drained within %s: %d waiting, %d in flight", within, visible, hidden)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
