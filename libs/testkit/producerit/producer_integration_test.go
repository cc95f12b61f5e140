package producerit_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/producer/producertest"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
)

// documentedClient builds the SQS client the way the package doc tells
// services to: the default AWS config plus the endpoint, nothing else.
func documentedClient(t *testing.T, env stacktest.Env) *sqs.Client {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", env.AWSAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", env.AWSSecretAccessKey)
	cfg, err := config.LoadDefaultConfig(t.Context(), config.WithRegion(env.AWSRegion))
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(env.SQSEndpoint) })
}

// received is what the tests check of a message taken from the queue.
type received struct {
	MessageID string
	Body      string
	LogType   string
	DataType  string
}

// receiveAll receives and deletes messages until want have arrived and a
// further receive finds the queue empty, so that anything sent beyond the
// expected messages shows up too.
func receiveAll(t *testing.T, client *sqs.Client, queueURL string, want int) []received {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	var got []received
	for {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:              aws.String(queueURL),
			MaxNumberOfMessages:   10,
			WaitTimeSeconds:       1,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatalf("receive from %s after %d of %d messages: %v", queueURL, len(got), want, err)
		}
		if len(out.Messages) == 0 && len(got) >= want {
			return got
		}
		var del []types.DeleteMessageBatchRequestEntry
		for _, m := range out.Messages {
			attr := m.MessageAttributes[schema.AttributeLogType]
			got = append(got, received{
				MessageID: aws.ToString(m.MessageId),
				Body:      aws.ToString(m.Body),
				LogType:   aws.ToString(attr.StringValue),
				DataType:  aws.ToString(attr.DataType),
			})
			del = append(del, types.DeleteMessageBatchRequestEntry{Id: m.MessageId, ReceiptHandle: m.ReceiptHandle})
		}
		if len(del) > 0 {
			if _, err := client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: del}); err != nil {
				t.Fatalf("delete received messages: %v", err)
			}
		}
	}
}

func TestPublishBatchToEmulator(t *testing.T) {
	env := stacktest.Load(t)
	queueURL, _ := stacktest.NewQueue(t, env, stacktest.VisibilityTimeout(5*time.Second))
	p, err := producer.New(documentedClient(t, env), producer.Options{QueueURL: queueURL})
	if err != nil {
		t.Fatal(err)
	}

	// 30 valid events of both log types, some of them 60 KiB, with invalid
	// ones in between.
	var events []producer.Event
	invalid := map[int]func(error) bool{}
	for i := range 30 {
		switch {
		case i%3 == 0:
			events = append(events, producertest.Event(t, "seller_action", i, 0))
		case i%7 == 0:
			events = append(events, producertest.Event(t, "user_action", i, 60*1024))
		default:
			events = append(events, producertest.Event(t, "user_action", i, 0))
		}
		switch i % 10 {
		case 4:
			invalid[len(events)] = func(err error) bool { var ve *schema.ValidationError; return errors.As(err, &ve) }
			events = append(events, producer.Event{LogType: "seller_action", Body: producertest.Event(t, "user_action", 100+i, 0).Body})
		case 8:
			invalid[len(events)] = func(err error) bool { return errors.Is(err, schema.ErrUnknownLogType) }
			events = append(events, producer.Event{LogType: "order_action", Body: producertest.Event(t, "seller_action", 100+i, 0).Body})
		case 9:
			invalid[len(events)] = func(err error) bool { return errors.Is(err, schema.ErrNotJSON) }
			events = append(events, producer.Event{LogType: "user_action", Body: json.RawMessage(`{"event_id":"` + eventgen.EventID(producertest.Seed, 100+i) + `"`)})
		}
	}
	// Five 220 KiB events: together over the 1 MiB that SQS takes per call
	// at most, so they pass only if the producer splits them.
	for i := range 5 {
		events = append(events, producertest.Event(t, "user_action", 200+i, 220*1024))
	}
	res := p.PublishBatch(t.Context(), events)

	var want []received
	for i, r := range res {
		if check, bad := invalid[i]; bad {
			if r.Err == nil || !check(r.Err) || r.MessageID != "" {
				t.Errorf("invalid event %d: %+v; want the matching error and no message", i, r)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("valid event %d: %v", i, r.Err)
			continue
		}
		if !strings.Contains(string(events[i].Body), r.EventID) || r.EventID == "" {
			t.Errorf("event %d: EventID %q is not the body's", i, r.EventID)
		}
		want = append(want, received{MessageID: r.MessageID, Body: string(events[i].Body), LogType: events[i].LogType, DataType: "String"})
	}
	if len(want) != 35 {
		t.Fatalf("%d events sent; want 35", len(want))
	}

	got := receiveAll(t, stacktest.SQSClient(t, env), queueURL, len(want))
	byID := func(a, b received) bool { return a.MessageID < b.MessageID }
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(byID)); diff != "" {
		t.Errorf("received messages (-want +got):\n%s", diff)
	}
}

func TestPublishToEmulatorReportsSQSErrors(t *testing.T) {
	env := stacktest.Load(t)
	client := documentedClient(t, env)

	t.Run("entry too large for the queue", func(t *testing.T) {
		// A queue whose messages may be at most 1024 bytes: SQS accepts the
		// call and reports the larger entries as failed by the sender.
		queueURL := newQueue(t, env, map[string]string{"MaximumMessageSize": "1024"})
		p, err := producer.New(client, producer.Options{QueueURL: queueURL})
		if err != nil {
			t.Fatal(err)
		}
		events := []producer.Event{producertest.Event(t, "user_action", 1, 0), producertest.Event(t, "user_action", 2, 2000), producertest.Event(t, "seller_action", 3, 0)}
		res := p.PublishBatch(t.Context(), events)

		var se *producer.SendError
		if !errors.As(res[1].Err, &se) {
			t.Fatalf("large event: Err = %v; want a *producer.SendError", res[1].Err)
		}
		wantErr := producer.SendError{Code: "InvalidParameterValue", SenderFault: true, Attempts: 1}
		gotErr := producer.SendError{Code: se.Code, SenderFault: se.SenderFault, Transient: se.Transient, Attempts: se.Attempts}
		if diff := cmp.Diff(wantErr, gotErr); diff != "" {
			t.Errorf("SendError (-want +got):\n%s", diff)
		}
		if !strings.Contains(se.Message, "1024") {
			t.Errorf("SendError.Message %q does not give the queue's limit", se.Message)
		}
		for _, i := range []int{0, 2} {
			if res[i].Err != nil || res[i].MessageID == "" {
				t.Errorf("event %d: %+v; want sent", i, res[i])
			}
		}
		got := receiveAll(t, stacktest.SQSClient(t, env), queueURL, 2)
		if len(got) != 2 {
			t.Errorf("received %d messages; want the 2 small ones", len(got))
		}
	})

	t.Run("queue does not exist", func(t *testing.T) {
		queueURL, _ := stacktest.NewQueue(t, env)
		missing := queueURL + "_missing"
		p, err := producer.New(client, producer.Options{QueueURL: missing})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.Publish(t.Context(), producertest.Event(t, "seller_action", 1, 0))

		var se *producer.SendError
		var noQueue *types.QueueDoesNotExist
		if !errors.As(err, &se) || !errors.As(err, &noQueue) {
			t.Fatalf("Publish to %s: %v; want a *producer.SendError wrapping *types.QueueDoesNotExist", missing, err)
		}
		if se.Transient || !se.SenderFault || se.Attempts != 1 {
			t.Errorf("SendError %+v; want a permanent sender fault after 1 attempt", se)
		}
	})
}

// newQueue creates a queue with the given attributes for the calling test,
// named like stacktest's, and deletes it when the test ends.
func newQueue(t *testing.T, env stacktest.Env, attrs map[string]string) string {
	t.Helper()
	client := stacktest.SQSClient(t, env)
	out, err := client.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(stacktest.UniqueName(t, "q")), Attributes: attrs})
	if err != nil {
		t.Fatalf("create SQS queue: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := client.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}); err != nil {
			t.Errorf("delete SQS queue %s: %v", aws.ToString(out.QueueUrl), err)
		}
	})
	return aws.ToString(out.QueueUrl)
}
