package poller_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/ore/internal/handler"
	"github.com/ore-masora/pipeline/services/ore/internal/handler/handlertest"
	"github.com/ore-masora/pipeline/services/ore/internal/memsample"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/gcsstore"
	"github.com/ore-masora/pipeline/services/ore/internal/poller"
)

const pollBenchMessages = 100000

// warnings logs the poller's and handler's problems during benchmarks.
var warnings = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// preload sends n user_action messages with 16 concurrent senders.
func preload(b *testing.B, client *sqs.Client, queueURL string, n int) {
	b.Helper()
	at := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Go(func() {
			for start := w * 10; start < n; start += 16 * 10 {
				var entries []types.SendMessageBatchRequestEntry
				for i := start; i < min(start+10, n); i++ {
					entries = append(entries, types.SendMessageBatchRequestEntry{
						Id:          aws.String(strconv.Itoa(i - start)),
						MessageBody: aws.String(handlertest.UserAction(i, at)),
						MessageAttributes: map[string]types.MessageAttributeValue{
							"log_type": {DataType: aws.String("String"), StringValue: aws.String("user_action")},
						},
					})
				}
				out, err := client.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
				if err == nil && len(out.Failed) > 0 {
					err = fmt.Errorf("%d entries refused: %s", len(out.Failed), aws.ToString(out.Failed[0].Message))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("preload: %v", err)
	}
}

// benchMemoryLimit is the Go memory limit the poll benchmark runs with when
// GOMEMLIMIT is not set: the setting README.md recommends for poll mode in
// a container.
const benchMemoryLimit = 100 << 20

// BenchmarkPollMode100k drains 100,000 preloaded realistic (~370-byte) messages from
// fauxqs into parquet files on fake-gcs-server with Ore's poll mode, then
// checks that every message is in exactly one file. It needs the local
// stack (make stack-up) and is skipped without it unless STACK_REQUIRED=1.
func BenchmarkPollMode100k(b *testing.B) {
	env := stacktest.Load(b)
	if os.Getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(benchMemoryLimit))
	}
	client := stacktest.SQSClient(b, env)
	gcs := stacktest.StorageClient(b, env)
	var last poller.Stats
	var drain time.Duration
	var peakRSS uint64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		queueURL, _ := stacktest.NewQueue(b, env, stacktest.VisibilityTimeout(60*time.Second))
		bucket := stacktest.NewBucket(b, env)
		preload(b, client, queueURL, pollBenchMessages)
		h, err := handler.New(handler.Options{
			Registry:      schema.MustLoad(),
			Store:         gcsstore.New(gcs, bucket),
			Prefix:        prefix,
			WriterVersion: "bench",
			Logger:        warnings,
		})
		if err != nil {
			b.Fatal(err)
		}
		p, err := poller.New(client, h.Handle, poller.Options{
			QueueURL:        queueURL,
			BatchSize:       10000,
			BatchWindow:     time.Second,
			MaxBatchBytes:   6 << 20,
			Receivers:       16,
			Handlers:        2,
			WaitTime:        time.Second,
			ShutdownTimeout: 30 * time.Second,
			Logger:          warnings,
		})
		if err != nil {
			b.Fatal(err)
		}
		debug.FreeOSMemory()
		if err := memsample.ResetPeakRSS(); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan poller.Stats)
		b.StartTimer()
		start := time.Now()
		go func() {
			st, err := p.Run(ctx)
			if err != nil {
				b.Error(err)
			}
			done <- st
		}()
		for {
			time.Sleep(50 * time.Millisecond)
			out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
				QueueUrl: aws.String(queueURL),
				AttributeNames: []types.QueueAttributeName{
					types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
				},
			})
			if err != nil {
				b.Fatal(err)
			}
			if out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)] == "0" &&
				out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] == "0" {
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatal("the queue did not drain in 5 minutes")
			}
		}
		drain += time.Since(start)
		b.StopTimer()
		cancel()
		last = <-done
		if peakRSS, err = memsample.PeakRSS(); err != nil {
			b.Fatal(err)
		}
		checkExactlyOnce(b, env, bucket, pollBenchMessages)
		b.StartTimer()
	}
	b.ReportMetric(float64(pollBenchMessages*b.N)/drain.Seconds(), "msgs/s")
	b.ReportMetric(float64(peakRSS)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(last.ReceiveErrors), "receive-errors")
	b.ReportMetric(float64(last.ReceiveRetries), "sdk-receive-retries")
	b.ReportMetric(float64(last.Failed+last.DeleteErrors), "retried-msgs")
	b.ReportMetric(float64(last.Batches), "batches")
}

// checkExactlyOnce checks that the bucket holds n rows with n distinct
// message ids and no quarantine.
func checkExactlyOnce(b *testing.B, env stacktest.Env, bucket string, n int) {
	b.Helper()
	out := handlertest.ReadOutcome(b, prefix, handlertest.ReadBucket(b, stacktest.StorageClient(b, env), bucket))
	seen := make(map[string]bool, n)
	for path, ids := range out.Files {
		for _, id := range ids {
			if seen[id] {
				b.Fatalf("message %s is in more than one row (%s)", id, path)
			}
			seen[id] = true
		}
	}
	if len(seen) != n || len(out.Quarantine) != 0 {
		b.Fatalf("%d distinct messages in %d files and %d quarantine objects, want %d and none", len(seen), len(out.Files), len(out.Quarantine), n)
	}
}
