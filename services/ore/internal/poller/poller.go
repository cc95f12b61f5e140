// Package poller is Ore's poll mode: a long-running SQS consumer that does
// what the Lambda SQS event source mapping does for lambda mode. It receives
// messages with several concurrent long polls, gathers them into batches up
// to a size, byte or time limit, calls the handler, deletes every message
// the handler did not report as failed, and leaves the failed ones to their
// visibility timeout, so the queue's redrive policy moves poison messages to
// the dead-letter queue.
package poller

import (
	"context"
	"errors"
	"fmt"
	"github.com/aws/smithy-go/middleware"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// HandleFunc handles one batch; it is the Lambda handler's signature.
type HandleFunc func(ctx context.Context, batch events.SQSEvent) (events.SQSEventResponse, error)

// Limits of SQS calls.
const (
	maxReceive     = 10 // messages per ReceiveMessage
	maxDeleteBatch = 10 // entries per DeleteMessageBatch
	// deleters is the number of concurrent DeleteMessageBatch loops.
	deleters = 8
	// handlerMargin is kept back from the visibility timeout so that a batch
	// is settled before its messages can be delivered again.
	handlerMargin = 2 * time.Second
	maxBackoff    = 10 * time.Second
)

// Options configure a Poller.
type Options struct {
	// QueueURL is the queue to consume. Required.
	QueueURL string
	// BatchSize is the most messages per batch (1 to 10,000).
	BatchSize int
	// BatchWindow is the longest wait to fill a batch after its first
	// message; 0 hands each receive's messages over at once.
	BatchWindow time.Duration
	// MaxBatchBytes bounds the body bytes of a batch.
	MaxBatchBytes int
	// Receivers is the number of concurrent ReceiveMessage loops.
	Receivers int
	// Handlers is the number of batches handled at once.
	Handlers int
	// WaitTime is the ReceiveMessage long poll (whole seconds, at most 20s).
	WaitTime time.Duration
	// ShutdownTimeout bounds the time to finish in-flight batches once the
	// context of Run ends.
	ShutdownTimeout time.Duration
	// Logger receives errors and the shutdown summary; nil discards.
	Logger *slog.Logger
}

// Poller consumes one queue.
type Poller struct {
	client *sqs.Client
	handle HandleFunc
	opts   Options
	log    *slog.Logger
}

// New returns a Poller; Run starts it.
func New(client *sqs.Client, handle HandleFunc, opts Options) (*Poller, error) {
	switch {
	case opts.QueueURL == "":
		return nil, errors.New("poller: a queue URL is required")
	case opts.BatchSize < 1 || opts.Receivers < 1 || opts.Handlers < 1 || opts.MaxBatchBytes < 1:
		return nil, fmt.Errorf("poller: batch size %d, receivers %d, handlers %d and max batch bytes %d must all be positive",
			opts.BatchSize, opts.Receivers, opts.Handlers, opts.MaxBatchBytes)
	case opts.WaitTime < 0 || opts.WaitTime > 20*time.Second || opts.WaitTime%time.Second != 0:
		return nil, fmt.Errorf("poller: wait time %s must be whole seconds from 0s to 20s", opts.WaitTime)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{client: client, handle: handle, opts: opts, log: log}, nil
}

// queueInfo is what the poller needs to know about the queue.
type queueInfo struct {
	arn        string
	region     string
	visibility time.Duration
}

func (p *Poller) queueInfo(ctx context.Context) (queueInfo, error) {
	out, err := p.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(p.opts.QueueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn, types.QueueAttributeNameVisibilityTimeout},
	})
	if err != nil {
		return queueInfo{}, fmt.Errorf("read attributes of queue %s: %w", p.opts.QueueURL, err)
	}
	secs, err := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)])
	if err != nil {
		return queueInfo{}, fmt.Errorf("queue %s: visibility timeout %q is not a number", p.opts.QueueURL, out.Attributes[string(types.QueueAttributeNameVisibilityTimeout)])
	}
	qi := queueInfo{
		arn:        out.Attributes[string(types.QueueAttributeNameQueueArn)],
		region:     p.client.Options().Region,
		visibility: time.Duration(secs) * time.Second,
	}
	if p.opts.BatchWindow+handlerMargin >= qi.visibility {
		return queueInfo{}, fmt.Errorf("the batch window %s plus %s to handle a batch must be shorter than the visibility timeout %s of queue %s, "+
			"or messages would be delivered again while they wait: lower ORE_POLL_BATCH_WINDOW or raise the queue's VisibilityTimeout",
			p.opts.BatchWindow, handlerMargin, qi.visibility, p.opts.QueueURL)
	}
	return qi, nil
}

// received is a message, in the form the handler takes, and when it was
// received.
type received struct {
	msg events.SQSMessage
	at  time.Time
}

// batch is a gathered batch; oldest is when its first message was received.
type batch struct {
	msgs   []events.SQSMessage
	oldest time.Time
}

// Stats counts what a Poller did.
type Stats struct {
	Received, Batches, Deleted, Failed, DeleteErrors, ReceiveErrors int64
	// ReceiveRetries counts ReceiveMessage attempts the SDK retried on its
	// own. A retried receive may have lost a response whose messages the
	// queue already counts as received: they stay invisible until their
	// visibility timeout, so a non-zero count explains a stalled drain.
	ReceiveRetries int64
}

// Run consumes the queue until ctx ends, then stops receiving, hands every
// message already received to the handler, deletes the handled ones and
// returns. In-flight work gets ShutdownTimeout after ctx ends; messages it
// cannot settle in time are delivered again after their visibility timeout.
// Run returns an error only if it cannot start.
func (p *Poller) Run(ctx context.Context) (Stats, error) {
	qi, err := p.queueInfo(ctx)
	if err != nil {
		return Stats{}, err
	}
	// Work on received messages continues after ctx ends, for a while.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopTimer := context.AfterFunc(ctx, func() {
		time.AfterFunc(p.opts.ShutdownTimeout, cancelWork)
	})
	defer stopTimer()

	var st stats
	msgs := make(chan received, maxReceive*p.opts.Receivers)
	batches := make(chan batch)

	var receivers sync.WaitGroup
	for range p.opts.Receivers {
		receivers.Go(func() { p.receive(ctx, work, qi, msgs, &st) })
	}
	go func() {
		receivers.Wait()
		close(msgs)
	}()
	go p.gather(msgs, batches)

	// Deletes run apart from the handlers, so that a handled batch's
	// bodies are released at once and the next batch starts meanwhile.
	deletes := make(chan []string, deleters)
	var deleting sync.WaitGroup
	for range deleters {
		deleting.Go(func() {
			for receipts := range deletes {
				p.delete(work, receipts, &st)
			}
		})
	}
	var handlers sync.WaitGroup
	for range p.opts.Handlers {
		handlers.Go(func() {
			for b := range batches {
				p.process(work, qi, b, deletes, &st)
			}
		})
	}
	handlers.Wait()
	close(deletes)
	deleting.Wait()
	s := st.snapshot()
	p.log.Info("poller stopped", "received", s.Received, "batches", s.Batches, "deleted", s.Deleted,
		"failed", s.Failed, "delete_errors", s.DeleteErrors, "receive_errors", s.ReceiveErrors, "receive_retries", s.ReceiveRetries)
	return s, nil
}

// receive long-polls the queue until stop ends. A call in progress is not
// cancelled but completes under work: SQS hides the messages it picks for a
// call, so an abandoned call would leave them invisible until their
// visibility timeout. Shutdown therefore takes up to one WaitTime.
func (p *Poller) receive(stop, work context.Context, qi queueInfo, out chan<- received, st *stats) {
	backoff := 100 * time.Millisecond
	for stop.Err() == nil {
		var attempts atomic.Int64
		resp, err := p.client.ReceiveMessage(work, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(p.opts.QueueURL),
			MaxNumberOfMessages:         maxReceive,
			WaitTimeSeconds:             int32(p.opts.WaitTime / time.Second),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: systemAttributes,
		}, countAttempts(&attempts))
		if retries := attempts.Load() - 1; retries > 0 {
			st.receiveRetries.Add(retries)
			p.log.Warn("the SDK retried a receive; messages of a lost response stay invisible until their visibility timeout",
				"queue_url", p.opts.QueueURL, "retries", retries, "visibility_timeout", qi.visibility.String())
		}
		if err != nil {
			if work.Err() != nil {
				return
			}
			st.receiveErrors.Add(1)
			p.log.Warn("receiving from SQS failed; retrying", "queue_url", p.opts.QueueURL, "error", err, "backoff", backoff)
			select {
			case <-stop.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = 100 * time.Millisecond
		now := time.Now()
		st.received.Add(int64(len(resp.Messages)))
		// Messages already received are handed on even when stop has ended,
		// so that they are handled rather than left to time out.
		for _, m := range resp.Messages {
			out <- received{msg: toEvent(m, qi), at: now}
		}
	}
}

// gather groups messages into batches until in is closed, then sends the
// last partial batch and closes out.
func (p *Poller) gather(in <-chan received, out chan<- batch) {
	defer close(out)
	var cur batch
	size := 0
	var window <-chan time.Time
	flush := func() {
		if len(cur.msgs) > 0 {
			out <- cur
		}
		cur, size, window = batch{}, 0, nil
	}
	add := func(r received) {
		n := len(r.msg.Body)
		if len(cur.msgs) > 0 && size+n > p.opts.MaxBatchBytes {
			flush()
		}
		if len(cur.msgs) == 0 {
			cur.oldest = r.at
			if p.opts.BatchWindow > 0 {
				window = time.After(p.opts.BatchWindow)
			}
		}
		cur.msgs = append(cur.msgs, r.msg)
		size += n
		if len(cur.msgs) >= p.opts.BatchSize {
			flush()
		}
	}
	for {
		if p.opts.BatchWindow == 0 && len(cur.msgs) > 0 {
			// No window: take what is already here, then hand it over.
			select {
			case r, ok := <-in:
				if !ok {
					flush()
					return
				}
				add(r)
			default:
				flush()
			}
			continue
		}
		select {
		case r, ok := <-in:
			if !ok {
				flush()
				return
			}
			add(r)
		case <-window:
			flush()
		}
	}
}

// process hands a batch to the handler and queues the messages it did not
// report as failed for deletion, in DeleteMessageBatch-sized chunks.
func (p *Poller) process(ctx context.Context, qi queueInfo, b batch, deletes chan<- []string, st *stats) {
	st.batches.Add(1)
	// Like Lambda's function timeout: settle the batch before its oldest
	// message becomes visible again.
	hctx, cancel := context.WithDeadline(ctx, b.oldest.Add(qi.visibility-handlerMargin))
	resp, err := p.handle(hctx, events.SQSEvent{Records: b.msgs})
	cancel()
	if err != nil {
		// The whole batch failed: every message is retried.
		st.failed.Add(int64(len(b.msgs)))
		p.log.Error("handler failed the whole batch; its messages will be delivered again", "messages", len(b.msgs), "error", err)
		return
	}
	failed := make(map[string]bool, len(resp.BatchItemFailures))
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var done []string // receipt handles
	for _, m := range b.msgs {
		if !failed[m.MessageId] {
			done = append(done, m.ReceiptHandle)
		}
	}
	st.failed.Add(int64(len(b.msgs) - len(done)))
	for start := 0; start < len(done); start += maxDeleteBatch {
		deletes <- done[start:min(start+maxDeleteBatch, len(done))]
	}
}

// delete deletes up to ten messages with one DeleteMessageBatch call. A
// message that cannot be deleted is delivered again; Ore's idempotent
// writes and Masora's event_id keys make that harmless.
func (p *Poller) delete(ctx context.Context, receipts []string, st *stats) {
	entries := make([]types.DeleteMessageBatchRequestEntry, len(receipts))
	for i, rh := range receipts {
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(rh)}
	}
	out, err := p.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.opts.QueueURL), Entries: entries})
	if err != nil {
		st.deleteErrors.Add(int64(len(receipts)))
		p.log.Warn("deleting handled messages failed; they will be delivered again", "messages", len(receipts), "error", err)
		return
	}
	st.deleted.Add(int64(len(out.Successful)))
	if len(out.Failed) > 0 {
		st.deleteErrors.Add(int64(len(out.Failed)))
		f := out.Failed[0]
		p.log.Warn("SQS refused to delete handled messages; they will be delivered again",
			"messages", len(out.Failed), "code", aws.ToString(f.Code), "reason", aws.ToString(f.Message))
	}
}

// systemAttributes are the message system attributes requested: those a
// Lambda event source mapping delivers.
var systemAttributes = []types.MessageSystemAttributeName{
	types.MessageSystemAttributeNameApproximateReceiveCount,
	types.MessageSystemAttributeNameSentTimestamp,
	types.MessageSystemAttributeNameSenderId,
	types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp,
}

// toEvent converts a received message into the form Lambda delivers.
func toEvent(m types.Message, qi queueInfo) events.SQSMessage {
	e := events.SQSMessage{
		MessageId:              aws.ToString(m.MessageId),
		ReceiptHandle:          aws.ToString(m.ReceiptHandle),
		Body:                   aws.ToString(m.Body),
		Md5OfBody:              aws.ToString(m.MD5OfBody),
		Md5OfMessageAttributes: aws.ToString(m.MD5OfMessageAttributes),
		Attributes:             m.Attributes,
		EventSource:            "aws:sqs",
		EventSourceARN:         qi.arn,
		AWSRegion:              qi.region,
	}
	if len(m.MessageAttributes) > 0 {
		e.MessageAttributes = make(map[string]events.SQSMessageAttribute, len(m.MessageAttributes))
		for k, a := range m.MessageAttributes {
			e.MessageAttributes[k] = events.SQSMessageAttribute{
				StringValue:      a.StringValue,
				BinaryValue:      a.BinaryValue,
				StringListValues: a.StringListValues,
				BinaryListValues: a.BinaryListValues,
				DataType:         aws.ToString(a.DataType),
			}
		}
	}
	return e
}

// stats is Stats, updated concurrently.
type stats struct {
	received, batches, deleted, failed, deleteErrors, receiveErrors, receiveRetries atomic.Int64
}

func (s *stats) snapshot() Stats {
	return Stats{Received: s.received.Load(), Batches: s.batches.Load(), Deleted: s.deleted.Load(),
		Failed: s.failed.Load(), DeleteErrors: s.deleteErrors.Load(), ReceiveErrors: s.receiveErrors.Load(),
		ReceiveRetries: s.receiveRetries.Load()}
}

// countAttempts counts every attempt the SDK makes for one call, retries
// included: the middleware sits after the retry loop.
func countAttempts(n *atomic.Int64) func(*sqs.Options) {
	return func(o *sqs.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("OreCountAttempts",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					n.Add(1)
					return next.HandleFinalize(ctx, in)
				}), "Retry", middleware.After)
		})
	}
}
