package redrive_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/progress"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/ore/internal/redrive"
)

// message is what the tests compare of a message: its body and attributes.
type message struct {
	Body       string
	Attributes map[string]types.MessageAttributeValue
}

var cmpAttrs = cmpopts.IgnoreUnexported(types.MessageAttributeValue{})

func str(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

// messages are n messages with a String, a Number and a Binary attribute,
// the first one as large as SQS takes (1 MiB with its attributes).
func messages(n int) []message {
	out := make([]message, n)
	for i := range out {
		out[i] = message{
			Body: fmt.Sprintf(`{"log_type":"user_action","n":%d}`, i),
			Attributes: map[string]types.MessageAttributeValue{
				"log_type": str("user_action"),
				"attempt":  {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(i))},
				"blob":     {DataType: aws.String("Binary"), BinaryValue: []byte{0, byte(i), 255}},
			},
		}
	}
	attrs := 0
	for name, a := range out[0].Attributes {
		// fauxqs counts a binary value by its base64 text, SQS by its bytes:
		// leave room for the larger.
		attrs += len(name) + len(aws.ToString(a.DataType)) + len(aws.ToString(a.StringValue)) + 4*((len(a.BinaryValue)+2)/3)
	}
	out[0].Body = `{"pad":"` + strings.Repeat("x", producer.MaxMessageBytes-attrs-len(`{"pad":""}`)) + `"}`
	return out
}

// intoDLQ sends msgs to the queue and receives them until SQS moves them to
// the dead-letter queue (the queue's maxReceiveCount is 1).
func intoDLQ(t *testing.T, client *sqs.Client, queueURL string, msgs []message) {
	t.Helper()
	for _, m := range msgs {
		if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(m.Body), MessageAttributes: m.Attributes}); err != nil {
			t.Fatalf("send a %d-byte message: %v", len(m.Body), err)
		}
	}
	// Receive each message once with a visibility timeout of 0: the next
	// receive finds it over maxReceiveCount and SQS moves it to the DLQ.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 && depth(t, client, queueURL) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages did not move to the DLQ")
		}
	}
}

func depth(t *testing.T, client *sqs.Client, url string) int {
	t.Helper()
	out, err := client.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	}})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	h, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return v + h
}

func received(t *testing.T, env stacktest.Env, url string) []message {
	t.Helper()
	var out []message
	for _, m := range stacktest.ReceiveAll(t, env, url) {
		out = append(out, message{aws.ToString(m.Body), m.MessageAttributes})
	}
	slices.SortFunc(out, func(a, b message) int { return strings.Compare(a.Body, b.Body) })
	return out
}

// TestRedriveOnStack: messages in the DLQ of a queue of the local stack go
// back to the queue with body and attributes intact, through the
// receive/send/delete fallback (fauxqs has no move tasks); -max bounds it.
func TestRedriveOnStack(t *testing.T) {
	env := stacktest.Load(t)
	client := stacktest.SQSClient(t, env)
	queueURL, dlqURL := stacktest.NewQueue(t, env, stacktest.MaxReceiveCount(1), stacktest.VisibilityTimeout(5*time.Second))
	msgs := messages(13)
	intoDLQ(t, client, queueURL, msgs)
	if n := depth(t, client, dlqURL); n != len(msgs) {
		t.Fatalf("the DLQ holds %d messages, want %d", n, len(msgs))
	}

	var out bytes.Buffer
	base := redrive.Options{SQS: client, QueueURL: queueURL, IdleWait: time.Second, Progress: progress.Options{Out: &out}}

	// An explicit move task fails: the emulator has none.
	o := base
	o.Method = redrive.MethodMoveTask
	if _, err := redrive.Run(t.Context(), o); err == nil || !redrive.Unsupported(err) {
		t.Fatalf("move task on the emulator: %v, want an unsupported operation", err)
	}

	// -max 4: four messages, the others stay.
	o = base
	o.Max = 4
	c, err := redrive.Run(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(redrive.Counts{Method: redrive.MethodReceive, DLQURL: dlqURL, Moved: 4}, c); diff != "" {
		t.Errorf("counts with max 4 (-want +got):\n%s", diff)
	}
	first := received(t, env, queueURL)
	if len(first) != 4 || depth(t, client, dlqURL) != len(msgs)-4 {
		t.Errorf("after max 4: %d on the queue, %d in the DLQ", len(first), depth(t, client, dlqURL))
	}

	// The rest, by the automatic method, falling back to receive.
	c, err = redrive.Run(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(redrive.Counts{Method: redrive.MethodReceive, DLQURL: dlqURL, Moved: len(msgs) - 4}, c); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	got := append(first, received(t, env, queueURL)...)
	slices.SortFunc(got, func(a, b message) int { return strings.Compare(a.Body, b.Body) })
	want := slices.Clone(msgs)
	slices.SortFunc(want, func(a, b message) int { return strings.Compare(a.Body, b.Body) })
	if diff := cmp.Diff(want, got, cmpAttrs); diff != "" {
		t.Errorf("messages back on the queue (-want +got):\n%s", diff)
	}
	if n := depth(t, client, dlqURL); n != 0 {
		t.Errorf("the DLQ still holds %d messages", n)
	}
	if !strings.Contains(out.String(), "redrive: finished: ") {
		t.Errorf("progress %q has no summary", out.String())
	}

	// Nothing left: a redrive moves nothing and succeeds.
	if c, err := redrive.Run(t.Context(), base); err != nil || c.Moved != 0 {
		t.Errorf("empty DLQ: %+v, %v", c, err)
	}
}

// TestRedriveDLQURL: the DLQ can be named instead of taken from the redrive
// policy, which a queue without one needs.
func TestRedriveDLQURL(t *testing.T) {
	env := stacktest.Load(t)
	client := stacktest.SQSClient(t, env)
	queueURL, dlqURL := stacktest.NewQueue(t, env)
	other, _ := stacktest.NewQueue(t, env)
	msgs := messages(2)[1:]
	for _, m := range msgs {
		if _, err := client.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(other), MessageBody: aws.String(m.Body), MessageAttributes: m.Attributes}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := redrive.Run(t.Context(), redrive.Options{SQS: client, QueueURL: queueURL, DLQURL: other, IdleWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c.Moved != 1 || c.DLQURL != other {
		t.Errorf("counts %+v, want 1 moved from %s", c, other)
	}
	if diff := cmp.Diff(msgs, received(t, env, queueURL), cmpAttrs); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if n := depth(t, client, dlqURL); n != 0 {
		t.Errorf("the redrive policy's DLQ was touched: %d messages", n)
	}
}

func TestRedriveErrors(t *testing.T) {
	env := stacktest.Load(t)
	client := stacktest.SQSClient(t, env)
	queueURL, _ := stacktest.NewQueue(t, env)
	name := stacktest.UniqueName(t, "plain")
	out, err := client.CreateQueue(t.Context(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
	for _, tc := range []struct {
		name   string
		o      redrive.Options
		wantIn string
	}{
		{"NoRedrivePolicy", redrive.Options{QueueURL: aws.ToString(out.QueueUrl)}, "has no redrive policy naming a dead-letter queue"},
		{"QueueMissing", redrive.Options{QueueURL: queueURL + "-gone"}, "get attributes of queue " + queueURL + "-gone"},
		{"NoQueueURL", redrive.Options{}, "no queue URL"},
		{"MaxWithMoveTask", redrive.Options{QueueURL: queueURL, Method: redrive.MethodMoveTask, Max: 3}, "a move task cannot stop after a number of messages"},
		{"BadMethod", redrive.Options{QueueURL: queueURL, Method: "teleport"}, `method "teleport"`},
		{"BadIdle", redrive.Options{QueueURL: queueURL, IdleWait: 1500 * time.Millisecond}, "whole seconds from 1s to 20s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.SQS = client
			_, err := redrive.Run(t.Context(), tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("Run error %v, want one containing %q", err, tc.wantIn)
			}
		})
	}
}

// fakeSQS answers as SQS does when it has move tasks, for the move task
// path, which the emulator cannot run. Tasks lists what ListMessageMoveTasks
// returns, one entry per call (the last repeats).
type fakeSQS struct {
	redrive.Queue // nil: a call of anything else panics
	startErr      error
	tasks         []types.ListMessageMoveTasksResultEntry
	started       *sqs.StartMessageMoveTaskInput
	lists         int
	receives      int
}

func (f *fakeSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{
		"QueueArn":                    "arn:aws:sqs:eu-west-1:123456789012:events",
		"RedrivePolicy":               `{"deadLetterTargetArn":"arn:aws:sqs:eu-west-1:123456789012:events-dlq","maxReceiveCount":5}`,
		"ApproximateNumberOfMessages": "0",
	}}, nil
}

func (f *fakeSQS) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String("https://sqs.eu-west-1.amazonaws.com/" + aws.ToString(in.QueueOwnerAWSAccountId) + "/" + aws.ToString(in.QueueName))}, nil
}

func (f *fakeSQS) StartMessageMoveTask(_ context.Context, in *sqs.StartMessageMoveTaskInput, _ ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error) {
	f.started = in
	if f.startErr != nil {
		return nil, f.startErr
	}
	return &sqs.StartMessageMoveTaskOutput{TaskHandle: aws.String("handle-1")}, nil
}

func (f *fakeSQS) ListMessageMoveTasks(_ context.Context, in *sqs.ListMessageMoveTasksInput, _ ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error) {
	t := f.tasks[min(f.lists, len(f.tasks)-1)]
	f.lists++
	return &sqs.ListMessageMoveTasksOutput{Results: []types.ListMessageMoveTasksResultEntry{t}}, nil
}

func (f *fakeSQS) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.receives++
	return &sqs.ReceiveMessageOutput{}, nil
}

func task(status string, moved, toMove int64, reason string) types.ListMessageMoveTasksResultEntry {
	t := types.ListMessageMoveTasksResultEntry{Status: aws.String(status), ApproximateNumberOfMessagesMoved: moved, ApproximateNumberOfMessagesToMove: aws.Int64(toMove)}
	if reason != "" {
		t.FailureReason = aws.String(reason)
	}
	return t
}

func TestMoveTask(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fake        fakeSQS
		method      redrive.Method
		want        redrive.Counts
		wantErr     string
		wantReceive bool
	}{
		{name: "Completed", fake: fakeSQS{tasks: []types.ListMessageMoveTasksResultEntry{task("RUNNING", 3, 10, ""), task("RUNNING", 7, 10, ""), task("COMPLETED", 10, 10, "")}},
			want: redrive.Counts{Method: redrive.MethodMoveTask, Moved: 10}},
		{name: "Failed", fake: fakeSQS{tasks: []types.ListMessageMoveTasksResultEntry{task("RUNNING", 3, 10, ""), task("FAILED", 4, 10, "AccessDenied")}},
			wantErr: "message move task handle-1 failed after 4 messages: AccessDenied"},
		{name: "Cancelled", fake: fakeSQS{tasks: []types.ListMessageMoveTasksResultEntry{task("CANCELLING", 3, 10, ""), task("CANCELLED", 3, 10, "")}},
			wantErr: "message move task handle-1 was cancelled after 3 messages"},
		{name: "UnsupportedFallsBack", fake: fakeSQS{startErr: &types.UnsupportedOperation{Message: aws.String("no")}},
			want: redrive.Counts{Method: redrive.MethodReceive}, wantReceive: true},
		{name: "UnknownActionFallsBack", fake: fakeSQS{startErr: &smithy.GenericAPIError{Code: "InvalidAction", Message: "Unknown action: StartMessageMoveTask"}},
			want: redrive.Counts{Method: redrive.MethodReceive}, wantReceive: true},
		{name: "UnsupportedWithMoveTaskMethod", fake: fakeSQS{startErr: &types.UnsupportedOperation{Message: aws.String("no")}}, method: redrive.MethodMoveTask,
			wantErr: "start a message move task from arn:aws:sqs:eu-west-1:123456789012:events-dlq to arn:aws:sqs:eu-west-1:123456789012:events: UnsupportedOperation: no"},
		{name: "OtherErrorsStop", fake: fakeSQS{startErr: &smithy.GenericAPIError{Code: "AccessDenied", Message: "no"}},
			wantErr: "AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fake
			var out bytes.Buffer
			c, err := redrive.Run(t.Context(), redrive.Options{SQS: &f, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/events", Method: tc.method,
				PollInterval: time.Millisecond, IdleWait: time.Second, Progress: progress.Options{Out: &out}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Run error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want.DLQURL = "https://sqs.eu-west-1.amazonaws.com/123456789012/events-dlq"
			if diff := cmp.Diff(tc.want, c); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			if got := aws.ToString(f.started.SourceArn) + " -> " + aws.ToString(f.started.DestinationArn); got != "arn:aws:sqs:eu-west-1:123456789012:events-dlq -> arn:aws:sqs:eu-west-1:123456789012:events" {
				t.Errorf("move task %s", got)
			}
			if (f.receives > 0) != tc.wantReceive {
				t.Errorf("%d receives, want some: %v", f.receives, tc.wantReceive)
			}
			if tc.want.Method == redrive.MethodMoveTask && !strings.Contains(out.String(), "redrive: finished: 10/10 done") {
				t.Errorf("progress %q does not end with the task's counts", out.String())
			}
		})
	}
}
