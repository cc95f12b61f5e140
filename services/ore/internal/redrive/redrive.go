// Package redrive moves the messages of Ore's dead-letter queue back to the
// queue Ore consumes: it is what `ore redrive` runs once the cause of their
// failures (GCS down, a permission) is gone.
//
// Where the endpoint offers it, redrive starts an SQS message move task
// (StartMessageMoveTask from the dead-letter queue to the queue) and follows
// its progress with ListMessageMoveTasks until it ends: SQS moves the
// messages itself. Where it does not (the SQS emulator of the local stack,
// fauxqs 1.9.2, answers InvalidAction), and when a number of messages is
// asked for (a move task cannot stop after N), redrive receives from the
// dead-letter queue, sends each message to the queue with its body and
// message attributes, and deletes it from the dead-letter queue only after
// the queue has accepted it. That fallback is at least once: if redrive
// stops between a send and its delete, the message is sent again by the
// next redrive, and Ore writes it twice; its event_id makes the second copy
// harmless downstream (Masora loads each event_id once). A message whose
// send fails stays in the dead-letter queue.
package redrive

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/progress"
)

// Queue is the part of the SQS client redrive uses; *sqs.Client satisfies
// it.
type Queue interface {
	producer.SendMessageBatchAPI
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	StartMessageMoveTask(ctx context.Context, in *sqs.StartMessageMoveTaskInput, opts ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error)
	ListMessageMoveTasks(ctx context.Context, in *sqs.ListMessageMoveTasksInput, opts ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Method is how messages are moved.
type Method string

// The methods.
const (
	// MethodAuto is MethodMoveTask where the endpoint offers it, else
	// MethodReceive; MethodReceive when Options.Max is set.
	MethodAuto Method = "auto"
	// MethodMoveTask has SQS move the messages (StartMessageMoveTask).
	MethodMoveTask Method = "move-task"
	// MethodReceive receives, sends and deletes the messages itself.
	MethodReceive Method = "receive"
)

// Option defaults.
const (
	DefaultIdleWait          = 5 * time.Second
	DefaultPollInterval      = 5 * time.Second
	DefaultVisibilityTimeout = time.Minute
)

// Options say what to move and how.
type Options struct {
	// SQS is the client for both queues.
	SQS Queue
	// QueueURL is the queue Ore consumes (SQS_QUEUE_URL), where the
	// messages go.
	QueueURL string
	// DLQURL is the dead-letter queue; empty means the one the queue's
	// redrive policy names.
	DLQURL string
	// Method is how to move; empty means MethodAuto.
	Method Method
	// Max, when positive, stops after that many messages (MethodReceive
	// only). 0 moves all.
	Max int
	// IdleWait is how long the dead-letter queue must read empty (one long
	// poll) before MethodReceive stops; whole seconds from 1s to 20s, 0
	// means DefaultIdleWait.
	IdleWait time.Duration
	// PollInterval is how often MethodMoveTask asks for the task's
	// progress; 0 means DefaultPollInterval.
	PollInterval time.Duration
	// VisibilityTimeout hides a received message from other consumers of
	// the dead-letter queue while MethodReceive sends and deletes it; 0
	// means DefaultVisibilityTimeout.
	VisibilityTimeout time.Duration
	// Progress says where progress is shown; Run sets Label and the counts.
	Progress progress.Options
	// Logger gets a line per message not moved and per fallback.
	Logger *slog.Logger
}

// Counts is the outcome of a redrive.
type Counts struct {
	// Method is how the messages were moved: MethodMoveTask or
	// MethodReceive.
	Method Method
	// DLQURL is the dead-letter queue the messages came from.
	DLQURL string
	// Moved is how many messages reached the queue and left the
	// dead-letter queue (for a move task, SQS's approximate count).
	Moved int
	// Failed is how many messages could not be sent; they stay in the
	// dead-letter queue.
	Failed int
	// NotDeleted is how many messages were sent but could not be deleted
	// from the dead-letter queue: the next redrive sends them again.
	NotDeleted int
}

func (c Counts) String() string {
	s := fmt.Sprintf("%d moved from %s by %s", c.Moved, c.DLQURL, c.Method)
	if c.Method == MethodReceive {
		s += fmt.Sprintf(", %d failed (left in the DLQ), %d sent but not deleted (will be sent again)", c.Failed, c.NotDeleted)
	}
	return s
}

// Check validates the options that do not need the queue.
func (o Options) Check() error {
	switch {
	case o.QueueURL == "":
		return errors.New("no queue URL (SQS_QUEUE_URL)")
	case o.Method != "" && o.Method != MethodAuto && o.Method != MethodMoveTask && o.Method != MethodReceive:
		return fmt.Errorf("method %q: want auto, move-task or receive", o.Method)
	case o.Max < 0:
		return fmt.Errorf("max %d: want 0 (all) or more", o.Max)
	case o.Max > 0 && o.Method == MethodMoveTask:
		return errors.New("a move task cannot stop after a number of messages: use the receive method, or move all")
	case o.IdleWait < 0 || o.IdleWait > 20*time.Second || o.IdleWait%time.Second != 0:
		return fmt.Errorf("idle wait %s: want whole seconds from 1s to 20s (an SQS long poll)", o.IdleWait)
	}
	return nil
}

// Run moves the messages of the dead-letter queue back to the queue and
// returns the counts. The error is for what stops the redrive: a queue that
// cannot be read, a move task that failed, sends that all fail, ctx ended.
func Run(ctx context.Context, o Options) (Counts, error) {
	if err := o.Check(); err != nil {
		return Counts{}, err
	}
	o.Method = cmp.Or(o.Method, MethodAuto)
	o.IdleWait = cmp.Or(o.IdleWait, DefaultIdleWait)
	o.PollInterval = cmp.Or(o.PollInterval, DefaultPollInterval)
	o.VisibilityTimeout = cmp.Or(o.VisibilityTimeout, DefaultVisibilityTimeout)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	q, err := resolve(ctx, o)
	if err != nil {
		return Counts{}, err
	}
	c := Counts{DLQURL: q.dlqURL}
	po := o.Progress
	po.Label = "redrive"
	rep := progress.New(po)
	defer rep.Finish()

	if o.Method != MethodReceive && o.Max == 0 {
		moved, err := moveTask(ctx, o, q, rep)
		switch {
		case err == nil:
			c.Method, c.Moved = MethodMoveTask, moved
			return c, nil
		case o.Method == MethodMoveTask || !Unsupported(err):
			return c, err
		}
		o.Logger.InfoContext(ctx, "the SQS endpoint does not offer message move tasks; receiving, sending and deleting instead", "error", err)
	}
	c.Method = MethodReceive
	err = receiveLoop(ctx, o, q, rep, &c)
	return c, err
}

// Unsupported reports whether err says that the endpoint does not offer
// the operation: SQS's UnsupportedOperation, or InvalidAction, the answer
// of an endpoint that does not know the action (fauxqs 1.9.2 for
// StartMessageMoveTask).
func Unsupported(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", "InvalidAction":
		return true
	}
	return false
}

// queues are the two queues of a redrive.
type queues struct {
	queueARN, dlqURL, dlqARN string
}

// resolve finds the queue's ARN and the dead-letter queue's URL and ARN.
func resolve(ctx context.Context, o Options) (queues, error) {
	var q queues
	out, err := o.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(o.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn, types.QueueAttributeNameRedrivePolicy},
	})
	if err != nil {
		return q, fmt.Errorf("get attributes of queue %s (check SQS_QUEUE_URL, AWS_REGION and SQS_ENDPOINT, and sqs:GetQueueAttributes): %w", o.QueueURL, err)
	}
	q.queueARN = out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if q.queueARN == "" {
		return q, fmt.Errorf("queue %s has no QueueArn attribute", o.QueueURL)
	}
	if o.DLQURL != "" {
		q.dlqURL = o.DLQURL
		d, err := o.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(o.DLQURL),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
		})
		if err != nil {
			return q, fmt.Errorf("get attributes of dead-letter queue %s: %w", o.DLQURL, err)
		}
		q.dlqARN = d.Attributes[string(types.QueueAttributeNameQueueArn)]
		return q, nil
	}
	raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]
	var rp struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	}
	if raw == "" || json.Unmarshal([]byte(raw), &rp) != nil || rp.DeadLetterTargetArn == "" {
		return q, fmt.Errorf("queue %s has no redrive policy naming a dead-letter queue (%q): name the dead-letter queue with --dlq-url", o.QueueURL, raw)
	}
	q.dlqARN = rp.DeadLetterTargetArn
	// arn:aws:sqs:<region>:<account>:<name>
	parts := strings.Split(q.dlqARN, ":")
	if len(parts) != 6 || parts[2] != "sqs" {
		return q, fmt.Errorf("dead-letter queue ARN %q of queue %s is not an SQS queue ARN", q.dlqARN, o.QueueURL)
	}
	u, err := o.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])})
	if err != nil {
		return q, fmt.Errorf("get the URL of dead-letter queue %s: %w", q.dlqARN, err)
	}
	q.dlqURL = aws.ToString(u.QueueUrl)
	return q, nil
}

// Move task statuses (ListMessageMoveTasksResultEntry.Status).
const (
	statusRunning    = "RUNNING"
	statusCompleted  = "COMPLETED"
	statusCancelling = "CANCELLING"
	statusCancelled  = "CANCELLED"
	statusFailed     = "FAILED"
)

// moveTask starts a message move task from the dead-letter queue to the
// queue and follows it until it ends; it returns the messages moved. SQS
// runs one move task per source queue at a time, so the most recent task of
// the dead-letter queue is the one started here.
func moveTask(ctx context.Context, o Options, q queues, rep *progress.Reporter) (int, error) {
	start, err := o.SQS.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(q.dlqARN), DestinationArn: aws.String(q.queueARN)})
	if err != nil {
		return 0, fmt.Errorf("start a message move task from %s to %s: %w", q.dlqARN, q.queueARN, err)
	}
	handle := aws.ToString(start.TaskHandle)
	o.Logger.InfoContext(ctx, "message move task started", "task_handle", handle, "source", q.dlqARN, "destination", q.queueARN)
	for {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("stopped following message move task %s, which goes on (cancel it with aws sqs cancel-message-move-task --task-handle %s): %w", handle, handle, ctx.Err())
		case <-time.After(o.PollInterval):
		}
		out, err := o.SQS.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(q.dlqARN), MaxResults: aws.Int32(1)})
		if err != nil {
			return 0, fmt.Errorf("list the message move tasks of %s (task %s): %w", q.dlqARN, handle, err)
		}
		if len(out.Results) == 0 {
			continue
		}
		t := out.Results[0]
		moved := t.ApproximateNumberOfMessagesMoved
		rep.Set(moved, 0)
		if t.ApproximateNumberOfMessagesToMove != nil {
			rep.SetTotal(*t.ApproximateNumberOfMessagesToMove)
		}
		switch s := aws.ToString(t.Status); s {
		case statusRunning, statusCancelling:
		case statusCompleted:
			return int(moved), nil
		case statusFailed:
			return int(moved), fmt.Errorf("message move task %s failed after %d messages: %s", handle, moved, aws.ToString(t.FailureReason))
		case statusCancelled:
			return int(moved), fmt.Errorf("message move task %s was cancelled after %d messages", handle, moved)
		default:
			return int(moved), fmt.Errorf("message move task %s has status %q, which redrive does not know", handle, s)
		}
	}
}

// receiveLoop moves messages by receiving them from the dead-letter queue,
// sending them to the queue and deleting the sent ones, until the
// dead-letter queue reads empty for IdleWait or Max messages are done.
func receiveLoop(ctx context.Context, o Options, q queues, rep *progress.Reporter, c *Counts) error {
	prod, err := producer.New(o.SQS, producer.Options{QueueURL: o.QueueURL})
	if err != nil {
		return err
	}
	if n, err := depth(ctx, o, q.dlqURL); err == nil {
		if o.Max > 0 {
			n = min(n, int64(o.Max))
		}
		rep.SetTotal(n)
	}
	for o.Max == 0 || c.Moved+c.Failed+c.NotDeleted < o.Max {
		n := int32(producer.MaxBatchEntries)
		if o.Max > 0 {
			n = int32(min(producer.MaxBatchEntries, o.Max-c.Moved-c.Failed-c.NotDeleted))
		}
		out, err := o.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:              aws.String(q.dlqURL),
			MaxNumberOfMessages:   n,
			WaitTimeSeconds:       int32(o.IdleWait / time.Second),
			VisibilityTimeout:     int32(o.VisibilityTimeout / time.Second),
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			return fmt.Errorf("receive from dead-letter queue %s: %w", q.dlqURL, err)
		}
		if len(out.Messages) == 0 {
			return nil
		}
		if err := moveBatch(ctx, o, q, prod, out.Messages, rep, c); err != nil {
			return err
		}
	}
	return nil
}

// moveBatch sends received messages to the queue and deletes from the
// dead-letter queue those the queue accepted.
func moveBatch(ctx context.Context, o Options, q queues, prod *producer.Producer, msgs []types.Message, rep *progress.Reporter, c *Counts) error {
	out := make([]producer.Message, len(msgs))
	for i, m := range msgs {
		out[i] = producer.Message{Body: aws.ToString(m.Body), Attributes: m.MessageAttributes}
	}
	var del []types.DeleteMessageBatchRequestEntry
	var firstErr error
	for i, r := range prod.SendMessages(ctx, out) {
		if r.Err != nil {
			c.Failed++
			rep.AddFailed(1)
			firstErr = cmp.Or(firstErr, r.Err)
			o.Logger.ErrorContext(ctx, "message not sent; it stays in the dead-letter queue", "message_id", aws.ToString(msgs[i].MessageId), "error", r.Err)
			continue
		}
		del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: msgs[i].ReceiptHandle})
	}
	if len(del) == 0 {
		return fmt.Errorf("no message of a batch could be sent to %s, stopping (they stay in the dead-letter queue): %w", o.QueueURL, firstErr)
	}
	dout, err := o.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(q.dlqURL), Entries: del})
	if err != nil {
		c.NotDeleted += len(del)
		rep.AddFailed(int64(len(del)))
		return fmt.Errorf("delete %d sent messages from dead-letter queue %s (the next redrive sends them again): %w", len(del), q.dlqURL, err)
	}
	for _, f := range dout.Failed {
		i, _ := strconv.Atoi(aws.ToString(f.Id))
		o.Logger.WarnContext(ctx, "message sent but not deleted from the dead-letter queue; the next redrive sends it again",
			"message_id", aws.ToString(msgs[i].MessageId), "code", aws.ToString(f.Code), "error", aws.ToString(f.Message))
	}
	c.NotDeleted += len(dout.Failed)
	c.Moved += len(dout.Successful)
	rep.Add(int64(len(dout.Successful)))
	rep.AddFailed(int64(len(dout.Failed)))
	return nil
}

// depth returns the approximate number of visible messages of a queue.
func depth(ctx context.Context, o Options, url string) (int64, error) {
	out, err := o.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)], 10, 64)
}
