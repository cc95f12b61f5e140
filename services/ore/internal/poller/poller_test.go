package poller_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/ore/internal/handler"
	"github.com/ore-masora/pipeline/services/ore/internal/handler/handlertest"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/gcsstore"
	"github.com/ore-masora/pipeline/services/ore/internal/poller"
)

const prefix = "logs"

// pollOptions are test settings: small batches and short waits.
func pollOptions(queueURL string) poller.Options {
	return poller.Options{
		QueueURL:        queueURL,
		BatchSize:       100,
		BatchWindow:     200 * time.Millisecond,
		MaxBatchBytes:   6 << 20,
		Receivers:       4,
		Handlers:        2,
		WaitTime:        time.Second,
		ShutdownTimeout: 20 * time.Second,
		Logger:          slog.New(slog.NewTextHandler(testWriter{}, nil)),
	}
}

// testWriter discards the poller's logs unless the test runs with -v.
type testWriter struct{}

func (testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		fmt.Print(string(p))
	}
	return len(p), nil
}

func newHandler(t *testing.T, env stacktest.Env, bucket string) *handler.Handler {
	t.Helper()
	h, err := handler.New(handler.Options{
		Registry:      schema.MustLoad(),
		Store:         gcsstore.New(stacktest.StorageClient(t, env), bucket),
		Prefix:        prefix,
		WriterVersion: "test",
		UploadTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// counts returns the visible and in-flight messages of a queue.
func counts(t *testing.T, client *sqs.Client, url string) (visible, inFlight int) {
	t.Helper()
	out, err := client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		t.Fatalf("queue attributes of %s: %v", url, err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight
}

// waitFor polls cond every 100ms until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sendRaw sends bodies as they are, bypassing the producer's validation.
func sendRaw(t *testing.T, client *sqs.Client, url string, msgs []events.SQSMessage) map[string]string {
	t.Helper()
	ids := map[string]string{} // SQS message id → body
	for start := 0; start < len(msgs); start += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for i, m := range msgs[start:min(start+10, len(msgs))] {
			e := types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(m.Body)}
			if a, ok := m.MessageAttributes["log_type"]; ok {
				e.MessageAttributes = map[string]types.MessageAttributeValue{"log_type": {DataType: aws.String("String"), StringValue: a.StringValue}}
			}
			entries = append(entries, e)
		}
		out, err := client.SendMessageBatch(t.Context(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("send raw messages: %v %v", err, out)
		}
		for _, s := range out.Successful {
			i, _ := strconv.Atoi(aws.ToString(s.Id))
			ids[aws.ToString(s.MessageId)] = msgs[start+i].Body
		}
	}
	return ids
}

// TestPollModeEndToEnd publishes valid events with the producer library and
// bad messages directly, runs poll mode until the queue drains, and checks
// that every valid message is in exactly one parquet file and every bad one
// in quarantine, exactly once.
func TestPollModeEndToEnd(t *testing.T) {
	env := stacktest.Load(t)
	sqsClient := stacktest.SQSClient(t, env)
	queueURL, dlqURL := stacktest.NewQueue(t, env, stacktest.VisibilityTimeout(10*time.Second))
	bucket := stacktest.NewBucket(t, env)

	prod, err := producer.New(sqsClient, producer.Options{QueueURL: queueURL})
	if err != nil {
		t.Fatal(err)
	}
	const valid = 300
	at := time.Now().UTC().Add(-time.Minute)
	evs := make([]producer.Event, valid)
	for i := range evs {
		if i%4 == 0 {
			evs[i] = producer.Event{LogType: "seller_action", Body: []byte(handlertest.SellerAction(i, at))}
		} else {
			evs[i] = producer.Event{LogType: "user_action", Body: []byte(handlertest.UserAction(i, at))}
		}
	}
	wantValid := map[string]bool{}
	for _, r := range prod.PublishBatch(t.Context(), evs) {
		if r.Err != nil {
			t.Fatalf("publish event %d: %v", r.Index, r.Err)
		}
		wantValid[r.MessageID] = true
	}
	badIDs := sendRaw(t, sqsClient, queueURL, []events.SQSMessage{
		handlertest.Message("", "user_action", `{"event_id":`),
		handlertest.Message("", "user_action", `{"event_id":"not-a-uuid"}`),
		handlertest.Message("", "page_view", `{"a":1}`),
		handlertest.Message("", "", `{"no":"log type"}`),
	})

	p, err := poller.New(sqsClient, newHandler(t, env, bucket).Handle, pollOptions(queueURL))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan poller.Stats)
	go func() {
		st, err := p.Run(ctx)
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		done <- st
	}()
	waitFor(t, 60*time.Second, "the queue to drain", func() bool {
		v, f := counts(t, sqsClient, queueURL)
		return v == 0 && f == 0
	})
	cancel()
	st := <-done

	total := valid + len(badIDs)
	if st.Received != int64(total) || st.Deleted != int64(total) || st.Failed != 0 {
		t.Errorf("poller stats %+v, want %d received and deleted, none failed", st, total)
	}
	out := handlertest.ReadOutcome(t, prefix, handlertest.ReadBucket(t, stacktest.StorageClient(t, env), bucket))
	gotValid := map[string]bool{}
	for path, ids := range out.Files {
		obj, _ := layout.Parse(prefix, path)
		if obj.Hour.After(time.Now()) || time.Since(obj.Hour) > 2*time.Hour {
			t.Errorf("%s: hour folder is not the receive hour", path)
		}
		for _, id := range ids {
			if gotValid[id] {
				t.Errorf("message %s is in more than one row", id)
			}
			gotValid[id] = true
		}
	}
	if diff := cmp.Diff(wantValid, gotValid); diff != "" {
		t.Errorf("message ids in parquet files (-want +got):\n%s", diff)
	}
	gotBad := map[string]string{}
	for _, recs := range out.Quarantine {
		for _, r := range recs {
			if _, dup := gotBad[r.MessageID]; dup {
				t.Errorf("message %s quarantined twice", r.MessageID)
			}
			gotBad[r.MessageID] = r.Body
		}
	}
	if diff := cmp.Diff(badIDs, gotBad); diff != "" {
		t.Errorf("quarantined messages and bodies (-want +got):\n%s", diff)
	}
	if v, f := counts(t, sqsClient, dlqURL); v+f != 0 {
		t.Errorf("DLQ holds %d messages, want none", v+f)
	}
}

// TestFailingHandlerSendsMessagesToDLQ checks that messages a handler keeps
// failing are left to their visibility timeout until the redrive policy
// moves them to the DLQ, while a message of the same batches that succeeds
// is deleted.
func TestFailingHandlerSendsMessagesToDLQ(t *testing.T) {
	env := stacktest.Load(t)
	sqsClient := stacktest.SQSClient(t, env)
	queueURL, dlqURL := stacktest.NewQueue(t, env, stacktest.VisibilityTimeout(3*time.Second), stacktest.MaxReceiveCount(2))
	sendRaw(t, sqsClient, queueURL, []events.SQSMessage{
		handlertest.Message("", "user_action", "poison-1"),
		handlertest.Message("", "user_action", "poison-2"),
		handlertest.Message("", "user_action", "fine"),
	})
	failPoison := func(_ context.Context, b events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for _, r := range b.Records {
			if r.Body != "fine" {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return resp, nil
	}
	opts := pollOptions(queueURL)
	opts.BatchWindow = 0
	p, err := poller.New(sqsClient, failPoison, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan poller.Stats)
	go func() {
		st, _ := p.Run(ctx)
		done <- st
	}()
	waitFor(t, 30*time.Second, "two messages in the DLQ", func() bool {
		v, _ := counts(t, sqsClient, dlqURL)
		return v == 2
	})
	cancel()
	st := <-done
	if v, f := counts(t, sqsClient, queueURL); v+f != 0 {
		t.Errorf("queue still holds %d visible and %d in-flight messages", v, f)
	}
	if st.Deleted != 1 || st.Failed != 4 {
		t.Errorf("poller stats %+v, want 1 deleted and 4 failed (2 poison messages × 2 receives)", st)
	}
	out, err := sqsClient.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlqURL), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range out.Messages {
		got = append(got, aws.ToString(m.Body))
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"poison-1", "poison-2"}, got); diff != "" {
		t.Errorf("DLQ bodies (-want +got):\n%s", diff)
	}
}

// TestShutdownFinishesInFlightMessages cancels Run while a batch is being
// handled and checks that every message received was handled and deleted,
// and none was left in flight.
func TestShutdownFinishesInFlightMessages(t *testing.T) {
	env := stacktest.Load(t)
	sqsClient := stacktest.SQSClient(t, env)
	queueURL, _ := stacktest.NewQueue(t, env, stacktest.VisibilityTimeout(30*time.Second))
	var msgs []events.SQSMessage
	for i := range 60 {
		msgs = append(msgs, handlertest.Message("", "user_action", fmt.Sprintf("m-%d", i)))
	}
	sendRaw(t, sqsClient, queueURL, msgs)

	started := make(chan struct{}, 100)
	slow := func(ctx context.Context, b events.SQSEvent) (events.SQSEventResponse, error) {
		started <- struct{}{}
		time.Sleep(500 * time.Millisecond)
		return events.SQSEventResponse{}, ctx.Err()
	}
	opts := pollOptions(queueURL)
	opts.BatchSize = 10
	opts.BatchWindow = 0
	opts.Receivers = 2
	opts.Handlers = 1
	p, err := poller.New(sqsClient, slow, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan poller.Stats)
	go func() {
		st, _ := p.Run(ctx)
		done <- st
	}()
	<-started
	cancel() // SIGTERM
	st := <-done
	if st.Received == 0 || st.Received != st.Deleted || st.Failed != 0 {
		t.Errorf("poller stats %+v: every received message must be handled and deleted", st)
	}
	visible, inFlight := counts(t, sqsClient, queueURL)
	if inFlight != 0 || visible != len(msgs)-int(st.Received) {
		t.Errorf("after shutdown: %d visible, %d in flight; want %d visible, 0 in flight", visible, inFlight, len(msgs)-int(st.Received))
	}
}

func TestRunRejectsWindowOverVisibilityTimeout(t *testing.T) {
	env := stacktest.Load(t)
	sqsClient := stacktest.SQSClient(t, env)
	queueURL, _ := stacktest.NewQueue(t, env, stacktest.VisibilityTimeout(5*time.Second))
	opts := pollOptions(queueURL)
	opts.BatchWindow = 4 * time.Second
	p, err := poller.New(sqsClient, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "must be shorter than the visibility timeout 5s") {
		t.Errorf("Run = %v, want an error about the visibility timeout", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	good := pollOptions("http://q")
	tests := []struct {
		change func(*poller.Options)
		want   string
	}{
		{func(o *poller.Options) { o.QueueURL = "" }, "a queue URL is required"},
		{func(o *poller.Options) { o.Receivers = 0 }, "must all be positive"},
		{func(o *poller.Options) { o.WaitTime = 1500 * time.Millisecond }, "whole seconds"},
		{func(o *poller.Options) { o.WaitTime = 21 * time.Second }, "whole seconds"},
	}
	for _, tt := range tests {
		o := good
		tt.change(&o)
		if _, err := poller.New(nil, nil, o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New = %v, want %q", err, tt.want)
		}
	}
}
