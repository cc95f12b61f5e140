package producer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/producer/producertest"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
)

// eventID is the event_id of producertest.Event's event n.
func eventID(n int) string { return eventgen.EventID(producertest.Seed, n) }

func newProducer(t testing.TB, client producer.SendMessageBatchAPI, opts producer.Options) *producer.Producer {
	t.Helper()
	if opts.QueueURL == "" {
		opts.QueueURL = "http://sqs.test/000000000000/events"
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase, opts.BackoffMax = time.Microsecond, time.Millisecond
	}
	p, err := producer.New(client, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func TestNewValidatesOptions(t *testing.T) {
	q := new(producertest.Queue)
	const url = "http://sqs.test/000000000000/events"
	tests := []struct {
		name    string
		client  producer.SendMessageBatchAPI
		opts    producer.Options
		wantErr string // substring; "" means no error
	}{
		{"defaults", q, producer.Options{QueueURL: url}, ""},
		{"all set", q, producer.Options{QueueURL: url, MaxAttempts: 2, BackoffBase: time.Second, BackoffMax: time.Second, MaxBatchBytes: 1 << 20}, ""},
		{"nil client", nil, producer.Options{QueueURL: url}, "nil SQS client"},
		{"no queue", q, producer.Options{}, "QueueURL is required"},
		{"negative attempts", q, producer.Options{QueueURL: url, MaxAttempts: -1}, "MaxAttempts is -1"},
		{"negative backoff", q, producer.Options{QueueURL: url, BackoffBase: -time.Second}, "must not be negative"},
		{"max below base", q, producer.Options{QueueURL: url, BackoffBase: time.Second, BackoffMax: time.Millisecond}, "BackoffMax 1ms is below BackoffBase 1s"},
		{"batch too small", q, producer.Options{QueueURL: url, MaxBatchBytes: 100}, "MaxBatchBytes is 100"},
		{"batch over SQS limit", q, producer.Options{QueueURL: url, MaxBatchBytes: 1<<20 + 1}, "MaxBatchBytes is 1048577"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := producer.New(tt.client, tt.opts)
			if tt.wantErr == "" {
				if err != nil || p == nil {
					t.Fatalf("New = %v, %v; want a producer", p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPublishBatchRejectsInvalidEvents(t *testing.T) {
	const limit = 2048
	// attribute is what the log_type message attribute adds to a user_action entry's size.
	const attribute = len("log_type") + len("String") + len("user_action")
	valid := producertest.Event(t, "user_action", 1, 0)
	var fields map[string]any
	if err := json.Unmarshal(valid.Body, &fields); err != nil {
		t.Fatal(err)
	}
	user := strconv.Quote(fields["user_id"].(string))
	tests := []struct {
		name  string
		event producer.Event
		check func(error) bool
		want  string // substring of the error
	}{
		{
			name:  "unknown log type",
			event: producer.Event{LogType: "page_view", Body: valid.Body},
			check: func(err error) bool { return errors.Is(err, schema.ErrUnknownLogType) },
			want:  `unknown log type "page_view" (known: seller_action, user_action)`,
		},
		{
			name:  "empty log type",
			event: producer.Event{Body: valid.Body},
			check: func(err error) bool { return errors.Is(err, schema.ErrUnknownLogType) },
			want:  `unknown log type ""`,
		},
		{
			name:  "not JSON",
			event: producer.Event{LogType: "user_action", Body: json.RawMessage(`{"event_id":`)},
			check: func(err error) bool { return errors.Is(err, schema.ErrNotJSON) },
			want:  "body is not a JSON object",
		},
		{
			name:  "bad fields",
			event: producer.Event{LogType: "user_action", Body: json.RawMessage(`{"event_id":"nope","occurred_at":"2025-11-26T10:00:00+01:00","source":"web","action":"flew_away","channel":"web"}`)},
			check: func(err error) bool {
				var ve *schema.ValidationError
				if !errors.As(err, &ve) {
					return false
				}
				var fields []string
				for _, f := range ve.Fields {
					fields = append(fields, f.Field)
				}
				return cmp.Equal([]string{"event_id", "action", "user_id"}, fields)
			},
			want: "event 0: invalid user_action message: event_id:",
		},
		{
			name:  "seller body sent as user_action",
			event: producer.Event{LogType: "user_action", Body: producertest.Event(t, "seller_action", 1, 0).Body},
			check: func(err error) bool { var ve *schema.ValidationError; return errors.As(err, &ve) },
			want:  "user_id: is required but missing",
		},
		{
			name:  "body over schema.MaxBodyBytes",
			event: producertest.Event(t, "user_action", 1, schema.MaxBodyBytes+1),
			check: func(err error) bool { return errors.Is(err, producer.ErrBodyTooLarge) },
			want:  "body is 1048577 bytes, the limit is 1048576",
		},
		{
			name:  "body and attribute one byte over MaxBatchBytes",
			event: producertest.Event(t, "user_action", 1, limit-attribute+1),
			check: func(err error) bool { return errors.Is(err, producer.ErrBodyTooLarge) },
			want:  "the batch limit is 2048",
		},
		{
			name:  "character SQS refuses",
			event: producer.Event{LogType: "user_action", Body: json.RawMessage(strings.Replace(string(valid.Body), user, user[:len(user)-1]+"\uffff\"", 1))},
			check: func(err error) bool { return errors.Is(err, producer.ErrInvalidCharacters) },
			want:  "U+FFFF at byte",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := new(producertest.Queue)
			p := newProducer(t, q, producer.Options{MaxBatchBytes: limit})
			valid := producertest.Event(t, "seller_action", 2, 0)
			res := p.PublishBatch(context.Background(), []producer.Event{tt.event, valid})

			if err := res[0].Err; err == nil || !tt.check(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("invalid event: Err = %v; want the right kind, containing %q", err, tt.want)
			}
			if res[0].MessageID != "" {
				t.Errorf("invalid event got MessageID %q", res[0].MessageID)
			}
			if res[1].Err != nil || res[1].MessageID == "" {
				t.Errorf("valid event: %+v; want sent", res[1])
			}
			want := []producertest.Message{{ID: res[1].MessageID, Body: string(valid.Body), Attributes: map[string]string{"log_type": "seller_action"}}}
			if diff := cmp.Diff(want, q.Messages()); diff != "" {
				t.Errorf("sent messages (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPublishBatchSizeBoundary: SQS's 1 MiB message limit counts the
// log_type attribute, so the largest body a producer sends is 1 MiB less the
// attribute; one byte more is refused, and so is a body of exactly
// schema.MaxBodyBytes. Nothing else in the batch is lost.
func TestPublishBatchSizeBoundary(t *testing.T) {
	const attribute = len("log_type") + len("String") + len("user_action")
	largest := producer.MaxMessageBytes - attribute
	for _, tc := range []struct {
		name     string
		bodySize int
		wantErr  string
	}{
		{"largest", largest, ""},
		{"one byte more", largest + 1, "event 0: event too large for one SQS message: body and attributes are 1048577 bytes, over the SQS message limit of 1048576 bytes (attribute names, types and values count)"},
		{"MaxBodyBytes", schema.MaxBodyBytes, "event 0: event too large for one SQS message: body and attributes are 1048601 bytes, over the SQS message limit of 1048576 bytes (attribute names, types and values count)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := new(producertest.Queue)
			p := newProducer(t, q, producer.Options{})
			big := producertest.Event(t, "user_action", 0, tc.bodySize)
			small := producertest.Event(t, "user_action", 1, 0)
			res := p.PublishBatch(t.Context(), []producer.Event{big, small})
			var got string
			if res[0].Err != nil {
				got = res[0].Err.Error()
				if !errors.Is(res[0].Err, producer.ErrBodyTooLarge) {
					t.Errorf("error %v is not ErrBodyTooLarge", res[0].Err)
				}
			}
			if got != tc.wantErr {
				t.Errorf("error %q, want %q", got, tc.wantErr)
			}
			if res[1].Err != nil {
				t.Errorf("the small event: %v", res[1].Err)
			}
			want := []string{string(small.Body)}
			if tc.wantErr == "" {
				want = []string{string(big.Body), string(small.Body)}
			}
			var bodies []string
			for _, m := range q.Messages() {
				bodies = append(bodies, m.Body)
			}
			if diff := cmp.Diff(want, bodies); diff != "" {
				t.Errorf("sent bodies (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSendMessages: messages go out as they are (bodies PublishBatch would
// refuse, any attributes, none), packed like events; only size is checked.
func TestSendMessages(t *testing.T) {
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	bin := types.MessageAttributeValue{DataType: aws.String("Binary"), BinaryValue: []byte{0, 1, 2}}
	msgs := []producer.Message{
		{Body: `{"event_id":"nope"}`, Attributes: map[string]types.MessageAttributeValue{"log_type": str("user_action")}},
		{Body: `not json at all`},
		{Body: `{"log_type":"page_view"}`, Attributes: map[string]types.MessageAttributeValue{"log_type": str("page_view"), "trace": str("t-1"), "blob": bin}},
		{Body: strings.Repeat("x", producer.MaxMessageBytes+1)},
		{Body: strings.Repeat("y", producer.MaxMessageBytes-len("log_type")-len("String")-len("z")), Attributes: map[string]types.MessageAttributeValue{"log_type": str("z")}},
	}
	for i := range 12 {
		msgs = append(msgs, producer.Message{Body: strconv.Itoa(i)})
	}
	q := new(producertest.Queue)
	p := newProducer(t, q, producer.Options{})
	res := p.SendMessages(t.Context(), msgs)
	for i, r := range res {
		switch {
		case i == 3:
			if !errors.Is(r.Err, producer.ErrBodyTooLarge) || !strings.Contains(r.Err.Error(), "message 3: ") {
				t.Errorf("result 3: %v, want ErrBodyTooLarge for message 3", r.Err)
			}
		case r.Err != nil || r.MessageID == "" || r.Index != i || r.EventID != "":
			t.Errorf("result %d = %+v, want sent, no event id", i, r)
		}
	}
	var sent []string
	for _, c := range q.Calls() {
		for _, e := range c {
			i, _ := strconv.Atoi(aws.ToString(e.Id))
			if aws.ToString(e.MessageBody) != msgs[i].Body {
				t.Errorf("message %d sent with another body", i)
			}
			if diff := cmp.Diff(msgs[i].Attributes, e.MessageAttributes, cmp.AllowUnexported(types.MessageAttributeValue{})); diff != "" {
				t.Errorf("message %d attributes (-want +got):\n%s", i, diff)
			}
			sent = append(sent, aws.ToString(e.Id))
		}
		if len(c) > producer.MaxBatchEntries {
			t.Errorf("a call of %d entries", len(c))
		}
	}
	if len(sent) != len(msgs)-1 {
		t.Errorf("sent %d messages, want %d", len(sent), len(msgs)-1)
	}
}

func TestPublishBatchPacksCalls(t *testing.T) {
	// many returns n user_action events of bodyBytes bytes (0: as generated).
	many := func(n, bodyBytes int) []producer.Event {
		evs := make([]producer.Event, n)
		for i := range evs {
			evs[i] = producertest.Event(t, "user_action", i, bodyBytes)
		}
		return evs
	}
	// attribute is what the log_type message attribute adds to an entry's size.
	const attribute = len("log_type") + len("String") + len("user_action")
	tests := []struct {
		name          string
		events        []producer.Event
		maxBatchBytes int
		wantCalls     []int // entries per call
	}{
		{"one", many(1, 0), 0, []int{1}},
		{"ten per call", many(25, 0), 0, []int{10, 10, 5}},
		{"exactly ten", many(10, 0), 0, []int{10}},
		// Each event is 1000 bytes with its attribute: four fit in 4000.
		{"byte limit", many(9, 1000-attribute), 4000, []int{4, 4, 1}},
		{"byte limit exactly", many(4, 1000-attribute), 2000, []int{2, 2}},
		// 300 KiB bodies: three fit the default 1 MiB, four do not.
		{"large bodies", many(5, 300*1024), 0, []int{3, 2}},
		// Largest bodies: one per call.
		{"largest bodies", many(3, producer.MaxMessageBytes-attribute), 0, []int{1, 1, 1}},
		{"mixed sizes", []producer.Event{
			producertest.Event(t, "user_action", 0, 800*1024), producertest.Event(t, "user_action", 1, 0),
			producertest.Event(t, "user_action", 2, 250*1024), producertest.Event(t, "user_action", 3, 0),
		}, 0, []int{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &producertest.Queue{MaxBatchBytes: tt.maxBatchBytes}
			p := newProducer(t, q, producer.Options{MaxBatchBytes: tt.maxBatchBytes})
			res := p.PublishBatch(context.Background(), tt.events)

			var got []int
			var ids []string
			for _, c := range q.Calls() {
				got = append(got, len(c))
				for _, e := range c {
					ids = append(ids, aws.ToString(e.Id))
				}
			}
			if diff := cmp.Diff(tt.wantCalls, got); diff != "" {
				t.Errorf("entries per call (-want +got):\n%s", diff)
			}
			var wantIDs []string
			for i := range tt.events {
				wantIDs = append(wantIDs, strconv.Itoa(i))
			}
			if diff := cmp.Diff(wantIDs, ids); diff != "" {
				t.Errorf("batch entry ids in call order (-want +got):\n%s", diff)
			}
			for i, r := range res {
				if r.Err != nil || r.Index != i || r.EventID != eventID(i) || r.MessageID == "" {
					t.Errorf("result %d = %+v; want sent with event id %s", i, r, eventID(i))
				}
			}
			if len(q.Messages()) != len(tt.events) {
				t.Errorf("queue holds %d messages; want %d", len(q.Messages()), len(tt.events))
			}
		})
	}
}

// outcome is what the retry tests check of each result.
type outcome struct {
	Sent        bool
	Code        string
	SenderFault bool
	Transient   bool
	Attempts    int
}

func outcomeOf(t *testing.T, r producer.Result) outcome {
	t.Helper()
	if r.Err == nil {
		if r.MessageID == "" {
			t.Errorf("result %d has neither an error nor a message id", r.Index)
		}
		return outcome{Sent: true}
	}
	var se *producer.SendError
	if !errors.As(r.Err, &se) {
		t.Fatalf("result %d: error %v is not a *SendError", r.Index, r.Err)
	}
	return outcome{Code: se.Code, SenderFault: se.SenderFault, Transient: se.Transient, Attempts: se.Attempts}
}

func entryFailure(code string, senderFault bool) *types.BatchResultErrorEntry {
	return &types.BatchResultErrorEntry{Code: aws.String(code), Message: aws.String(code + " from the test"), SenderFault: senderFault}
}

// failEntries fails the listed batch entry ids on the listed calls.
func failEntries(calls []int, ids []string, code string, senderFault bool) func(int, types.SendMessageBatchRequestEntry) *types.BatchResultErrorEntry {
	return func(call int, e types.SendMessageBatchRequestEntry) *types.BatchResultErrorEntry {
		for _, c := range calls {
			for _, id := range ids {
				if c == call && id == aws.ToString(e.Id) {
					return entryFailure(code, senderFault)
				}
			}
		}
		return nil
	}
}

// failCalls fails the listed calls with err.
func failCalls(err error, calls ...int) func(int) error {
	return func(call int) error {
		for _, c := range calls {
			if c == call {
				return err
			}
		}
		return nil
	}
}

func TestPublishBatchRetries(t *testing.T) {
	serverErr := &smithy.GenericAPIError{Code: "InternalError", Message: "try again", Fault: smithy.FaultServer}
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	noQueue := &types.QueueDoesNotExist{Message: aws.String("The specified queue does not exist.")}
	sent := outcome{Sent: true}
	tests := []struct {
		name      string
		queue     *producertest.Queue
		events    int
		attempts  int
		want      []outcome
		wantCalls [][]string // batch entry ids per call
	}{
		{
			name:      "all accepted",
			queue:     &producertest.Queue{},
			events:    3,
			want:      []outcome{sent, sent, sent},
			wantCalls: [][]string{{"0", "1", "2"}},
		},
		{
			name:      "failed entries retried until accepted",
			queue:     &producertest.Queue{EntryError: failEntries([]int{1, 2}, []string{"1", "3"}, "ServiceUnavailable", false)},
			events:    5,
			want:      []outcome{sent, sent, sent, sent, sent},
			wantCalls: [][]string{{"0", "1", "2", "3", "4"}, {"1", "3"}, {"1", "3"}},
		},
		{
			name:      "sender fault not retried",
			queue:     &producertest.Queue{EntryError: failEntries([]int{1}, []string{"1"}, "InvalidMessageContents", true)},
			events:    3,
			want:      []outcome{sent, {Code: "InvalidMessageContents", SenderFault: true, Attempts: 1}, sent},
			wantCalls: [][]string{{"0", "1", "2"}},
		},
		{
			name:      "sender fault after a transient failure",
			queue:     &producertest.Queue{EntryError: failEntries([]int{1}, []string{"0"}, "InternalError", false)},
			events:    1,
			want:      []outcome{sent},
			wantCalls: [][]string{{"0"}, {"0"}},
		},
		{
			name:      "max attempts",
			queue:     &producertest.Queue{EntryError: failEntries([]int{1, 2, 3, 4}, []string{"0"}, "ServiceUnavailable", false)},
			events:    2,
			attempts:  3,
			want:      []outcome{{Code: "ServiceUnavailable", Transient: true, Attempts: 3}, sent},
			wantCalls: [][]string{{"0", "1"}, {"0"}, {"0"}},
		},
		{
			name:      "single attempt",
			queue:     &producertest.Queue{EntryError: failEntries([]int{1}, []string{"0"}, "ServiceUnavailable", false)},
			events:    1,
			attempts:  1,
			want:      []outcome{{Code: "ServiceUnavailable", Transient: true, Attempts: 1}},
			wantCalls: [][]string{{"0"}},
		},
		{
			name:      "transient call error retried",
			queue:     &producertest.Queue{CallError: failCalls(serverErr, 1)},
			events:    2,
			want:      []outcome{sent, sent},
			wantCalls: [][]string{{"0", "1"}, {"0", "1"}},
		},
		{
			name:      "network error retried",
			queue:     &producertest.Queue{CallError: failCalls(dialErr, 1, 2)},
			events:    1,
			want:      []outcome{sent},
			wantCalls: [][]string{{"0"}, {"0"}, {"0"}},
		},
		{
			name:      "transient call error exhausts attempts",
			queue:     &producertest.Queue{CallError: failCalls(serverErr, 1, 2)},
			events:    2,
			attempts:  2,
			want:      []outcome{{Code: "InternalError", Transient: true, Attempts: 2}, {Code: "InternalError", Transient: true, Attempts: 2}},
			wantCalls: [][]string{{"0", "1"}, {"0", "1"}},
		},
		{
			name:      "permanent call error not retried",
			queue:     &producertest.Queue{CallError: failCalls(noQueue, 1)},
			events:    2,
			want:      []outcome{{Code: "QueueDoesNotExist", SenderFault: true, Attempts: 1}, {Code: "QueueDoesNotExist", SenderFault: true, Attempts: 1}},
			wantCalls: [][]string{{"0", "1"}},
		},
		{
			name:   "only the failed call of several is retried",
			queue:  &producertest.Queue{CallError: failCalls(serverErr, 2)},
			events: 12,
			want:   []outcome{sent, sent, sent, sent, sent, sent, sent, sent, sent, sent, sent, sent},
			wantCalls: [][]string{
				{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
				{"10", "11"},
				{"10", "11"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProducer(t, tt.queue, producer.Options{MaxAttempts: tt.attempts})
			events := make([]producer.Event, tt.events)
			for i := range events {
				events[i] = producertest.Event(t, "user_action", i, 0)
			}
			res := p.PublishBatch(context.Background(), events)

			got := make([]outcome, len(res))
			for i, r := range res {
				got[i] = outcomeOf(t, r)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s", diff)
			}
			var calls [][]string
			for _, c := range tt.queue.Calls() {
				var ids []string
				for _, e := range c {
					ids = append(ids, aws.ToString(e.Id))
				}
				calls = append(calls, ids)
			}
			if diff := cmp.Diff(tt.wantCalls, calls); diff != "" {
				t.Errorf("batch entry ids per call (-want +got):\n%s", diff)
			}
			// Every accepted event is in the queue exactly once.
			seen := map[string]int{}
			for _, m := range tt.queue.Messages() {
				seen[m.ID]++
			}
			for _, r := range res {
				if r.Err == nil && seen[r.MessageID] != 1 {
					t.Errorf("event %d: message %q is in the queue %d times", r.Index, r.MessageID, seen[r.MessageID])
				}
			}
		})
	}
}

func TestSendErrorKeepsCallError(t *testing.T) {
	noQueue := &types.QueueDoesNotExist{Message: aws.String("The specified queue does not exist.")}
	q := &producertest.Queue{CallError: failCalls(noQueue, 1)}
	p := newProducer(t, q, producer.Options{})
	_, err := p.Publish(context.Background(), producertest.Event(t, "user_action", 1, 0))

	var target *types.QueueDoesNotExist
	if !errors.As(err, &target) {
		t.Fatalf("Publish error %v does not wrap *types.QueueDoesNotExist", err)
	}
	for _, want := range []string{"event 0", "permanent failure, not retried", "SendMessageBatch to http://sqs.test/000000000000/events", "QueueDoesNotExist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// clientFunc adapts a function to producer.SendMessageBatchAPI.
type clientFunc func(context.Context, *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error)

func (f clientFunc) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	return f(ctx, in)
}

func TestPublishBatchRetriesEntriesMissingFromResponse(t *testing.T) {
	q := new(producertest.Queue)
	calls := 0
	// The first response drops entry "1" (neither successful nor failed).
	client := clientFunc(func(ctx context.Context, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		calls++
		out, err := q.SendMessageBatch(ctx, in)
		if err == nil && calls == 1 {
			out.Successful = out.Successful[:1]
		}
		return out, err
	})
	p := newProducer(t, client, producer.Options{})
	res := p.PublishBatch(context.Background(), []producer.Event{producertest.Event(t, "user_action", 0, 0), producertest.Event(t, "user_action", 1, 0)})

	for _, r := range res {
		if r.Err != nil {
			t.Errorf("event %d: %v", r.Index, r.Err)
		}
	}
	if calls != 2 {
		t.Errorf("%d calls; want 2 (the second for the entry missing from the response)", calls)
	}
	if res[0].MessageID != "m1" || res[1].MessageID != "m3" {
		t.Errorf("message ids %q, %q; want m1 and m3 (the dropped entry was sent again)", res[0].MessageID, res[1].MessageID)
	}
}

func TestPublishBatchHonoursContext(t *testing.T) {
	serverErr := &smithy.GenericAPIError{Code: "InternalError", Message: "try again", Fault: smithy.FaultServer}
	events := []producer.Event{producertest.Event(t, "user_action", 0, 0), {LogType: "user_action", Body: json.RawMessage(`[]`)}, producertest.Event(t, "user_action", 2, 0)}

	t.Run("cancelled during backoff", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		q := &producertest.Queue{CallError: func(int) error { cancel(); return serverErr }}
		// An hour's backoff: PublishBatch returns only because ctx ends.
		p := newProducer(t, q, producer.Options{BackoffBase: time.Hour, BackoffMax: time.Hour})
		res := p.PublishBatch(ctx, events)

		if len(q.Calls()) != 1 {
			t.Errorf("%d calls; want 1", len(q.Calls()))
		}
		for _, i := range []int{0, 2} {
			var se *producer.SendError
			if err := res[i].Err; !errors.Is(err, context.Canceled) || !errors.As(err, &se) || se.Code != "InternalError" {
				t.Errorf("event %d: Err = %v; want context.Canceled and the InternalError of the first attempt", i, err)
			}
		}
		if !errors.Is(res[1].Err, schema.ErrNotJSON) {
			t.Errorf("invalid event: Err = %v; want schema.ErrNotJSON", res[1].Err)
		}
	})

	t.Run("cancelled during the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		q := &producertest.Queue{CallError: func(int) error {
			cancel()
			return fmt.Errorf("operation error SQS: SendMessageBatch: %w", context.Canceled)
		}}
		p := newProducer(t, q, producer.Options{})
		res := p.PublishBatch(ctx, events)

		if len(q.Calls()) != 1 {
			t.Errorf("%d calls; want 1", len(q.Calls()))
		}
		for _, i := range []int{0, 2} {
			var se *producer.SendError
			if err := res[i].Err; !errors.Is(err, context.Canceled) || errors.As(err, &se) {
				t.Errorf("event %d: Err = %v; want only context.Canceled", i, err)
			}
		}
	})

	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		q := new(producertest.Queue)
		p := newProducer(t, q, producer.Options{})
		res := p.PublishBatch(ctx, events)

		if len(q.Calls()) != 0 {
			t.Errorf("%d calls; want none", len(q.Calls()))
		}
		for _, i := range []int{0, 2} {
			var se *producer.SendError
			if err := res[i].Err; !errors.Is(err, context.Canceled) || errors.As(err, &se) {
				t.Errorf("event %d: Err = %v; want only context.Canceled", i, err)
			}
		}
		if !errors.Is(res[1].Err, schema.ErrNotJSON) {
			t.Errorf("invalid event: Err = %v; want schema.ErrNotJSON", res[1].Err)
		}
	})
}

func TestPublish(t *testing.T) {
	q := new(producertest.Queue)
	p := newProducer(t, q, producer.Options{})

	r, err := p.Publish(context.Background(), producertest.Event(t, "seller_action", 7, 0))
	if diff := cmp.Diff(producer.Result{Index: 0, EventID: eventID(7), MessageID: "m1"}, r); diff != "" || err != nil {
		t.Errorf("Publish valid event = %v (-want +got):\n%s", err, diff)
	}

	r, err = p.Publish(context.Background(), producer.Event{LogType: "seller_action", Body: json.RawMessage(`{}`)})
	var ve *schema.ValidationError
	if !errors.As(err, &ve) || err != r.Err || r.MessageID != "" {
		t.Errorf("Publish invalid event = %+v, %v; want a *schema.ValidationError as both", r, err)
	}
	if n := len(q.Messages()); n != 1 {
		t.Errorf("queue holds %d messages; want 1", n)
	}
}

func TestNewEvent(t *testing.T) {
	type sellerEvent struct {
		EventID    string `json:"event_id"`
		OccurredAt string `json:"occurred_at"`
		Source     string `json:"source"`
		Action     string `json:"action"`
		SellerID   string `json:"seller_id"`
	}
	ev, err := producer.NewEvent("seller_action", sellerEvent{eventID(1), "2025-11-26T09:00:00Z", "seller-dashboard", "order_accepted", "s1"})
	if err != nil {
		t.Fatal(err)
	}
	want := producer.Event{LogType: "seller_action", Body: json.RawMessage(`{"event_id":"` + eventID(1) + `","occurred_at":"2025-11-26T09:00:00Z","source":"seller-dashboard","action":"order_accepted","seller_id":"s1"}`)}
	if diff := cmp.Diff(want, ev); diff != "" {
		t.Errorf("NewEvent (-want +got):\n%s", diff)
	}

	if _, err := producer.NewEvent("seller_action", map[string]any{"bad": make(chan int)}); err == nil || !strings.Contains(err.Error(), "marshal seller_action event") {
		t.Errorf("NewEvent with a channel: err = %v; want a marshal error", err)
	}
}
