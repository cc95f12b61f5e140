package poller_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/ore/internal/handler/handlertest"
	"github.com/ore-masora/pipeline/services/ore/internal/poller"
)

// TestPollModeLargestMessages: the local stack's SQS emulator takes
// messages of SQS's full 1 MiB, and Ore writes them: the largest event the
// producer library publishes (1 MiB with its log_type attribute) and a body
// of exactly 1 MiB sent without attributes (its log type in the body) both
// end up in parquet rows.
func TestPollModeLargestMessages(t *testing.T) {
	env := stacktest.Load(t)
	sqsClient := stacktest.SQSClient(t, env)
	queueURL, _ := stacktest.NewQueue(t, env, stacktest.VisibilityTimeout(10*time.Second))
	bucket := stacktest.NewBucket(t, env)

	body := func(i, size int) string {
		g, err := eventgen.New(schema.MustLoad(), eventgen.Options{Seed: 7, BodyBytes: size})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := g.Event("user_action", i)
		if err != nil {
			t.Fatal(err)
		}
		return string(ev.Body)
	}
	prod, err := producer.New(sqsClient, producer.Options{QueueURL: queueURL})
	if err != nil {
		t.Fatal(err)
	}
	attribute := len("log_type") + len("String") + len("user_action")
	published := body(1, producer.MaxMessageBytes-attribute)
	r, err := prod.Publish(t.Context(), producer.Event{LogType: "user_action", Body: []byte(published)})
	if err != nil {
		t.Fatalf("publish a %d-byte body: %v", len(published), err)
	}
	field := `"log_type":"user_action",`
	raw := strings.Replace(body(2, schema.MaxBodyBytes-len(field)), "{", "{"+field, 1)
	if len(raw) != schema.MaxBodyBytes {
		t.Fatalf("raw body of %d bytes, want %d", len(raw), schema.MaxBodyBytes)
	}
	rawIDs := sendRaw(t, sqsClient, queueURL, []events.SQSMessage{handlertest.Message("", "", raw)})

	p, err := poller.New(sqsClient, newHandler(t, env, bucket).Handle, pollOptions(queueURL))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := p.Run(ctx)
		done <- err
	}()
	waitFor(t, 60*time.Second, "the queue to drain", func() bool {
		v, f := counts(t, sqsClient, queueURL)
		return v == 0 && f == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	out := handlertest.ReadOutcome(t, prefix, handlertest.ReadBucket(t, stacktest.StorageClient(t, env), bucket))
	if len(out.Quarantine) != 0 {
		t.Errorf("quarantined: %v", out.Quarantine)
	}
	rows := map[string]bool{}
	for _, ids := range out.Files {
		for _, id := range ids {
			rows[id] = true
		}
	}
	for id := range rawIDs {
		if !rows[id] || !rows[r.MessageID] || len(rows) != 2 {
			t.Errorf("parquet rows of messages %v, want the published %s and the raw %s", rows, r.MessageID, id)
		}
	}
}
