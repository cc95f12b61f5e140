package producer

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/ore-masora/pipeline/libs/schema"
)

// attributeDataType is the SQS data type of the log_type attribute.
const attributeDataType = "String"

// Limits of SQS messages and of one SendMessageBatch call: "The maximum
// allowed individual message size and the maximum total payload size (the
// sum of the individual lengths of all of the batched messages) are both 1
// MiB (1,048,576 bytes)", and every part of a message attribute (name, type
// and value) counts toward the message size (Amazon SQS API Reference,
// SendMessageBatch and MessageAttributeValue).
const (
	// MaxBatchEntries is the most entries SQS takes in one call.
	MaxBatchEntries = 10
	// MaxMessageBytes is the SQS limit of one message: body plus attribute
	// names, types and values. An event's body is also bounded by
	// schema.MaxBodyBytes, the same number, so a body of exactly that size
	// cannot be sent with its log_type attribute.
	MaxMessageBytes = 1024 * 1024
	// DefaultMaxBatchBytes is the default payload limit of one call: the sum
	// over its entries of body bytes plus attribute name, type and value
	// bytes. It is the SQS limit; a larger option is refused.
	DefaultMaxBatchBytes = MaxMessageBytes
)

// Option defaults.
const (
	DefaultMaxAttempts = 5
	DefaultBackoffBase = 100 * time.Millisecond
	DefaultBackoffMax  = 5 * time.Second
)

// SendMessageBatchAPI is the part of the SQS client the producer uses.
// *sqs.Client satisfies it.
type SendMessageBatchAPI interface {
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Options configure a Producer. Zero values take the documented defaults.
type Options struct {
	// QueueURL is the queue events are sent to. Required.
	QueueURL string
	// Registry holds the log type definitions events are validated against;
	// nil means the definitions embedded in the schema module (schema.Load).
	Registry *schema.Registry
	// MaxAttempts bounds how many SendMessageBatch calls may carry one event,
	// the first included; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// BackoffBase is the wait before the first retry; each further retry
	// doubles it, up to BackoffMax. The wait actually taken is drawn at
	// random between half of that and all of it. 0 means DefaultBackoffBase.
	BackoffBase time.Duration
	// BackoffMax caps the wait between retries; 0 means DefaultBackoffMax.
	BackoffMax time.Duration
	// MaxBatchBytes is the payload limit of one SendMessageBatch call,
	// counting bodies and attributes as SQS does; 0 means
	// DefaultMaxBatchBytes. It also bounds a single event.
	MaxBatchBytes int
}

// Producer validates events and sends them to one SQS queue. It is safe for
// concurrent use.
type Producer struct {
	client   SendMessageBatchAPI
	queueURL string
	registry *schema.Registry

	maxAttempts   int
	backoffBase   time.Duration
	backoffMax    time.Duration
	maxBatchBytes int
	// jitter returns a random duration in [0, n); replaced in tests.
	jitter func(n int64) int64
}

// New returns a Producer that sends through client, or an error naming the
// first invalid option.
func New(client SendMessageBatchAPI, opts Options) (*Producer, error) {
	if client == nil {
		return nil, errors.New("producer: nil SQS client")
	}
	p := &Producer{
		client:        client,
		queueURL:      opts.QueueURL,
		registry:      opts.Registry,
		maxAttempts:   cmp.Or(opts.MaxAttempts, DefaultMaxAttempts),
		backoffBase:   cmp.Or(opts.BackoffBase, DefaultBackoffBase),
		backoffMax:    cmp.Or(opts.BackoffMax, DefaultBackoffMax),
		maxBatchBytes: cmp.Or(opts.MaxBatchBytes, DefaultMaxBatchBytes),
		jitter:        rand.Int64N,
	}
	switch {
	case p.queueURL == "":
		return nil, errors.New("producer: Options.QueueURL is required (the URL of the SQS queue to publish to)")
	case p.maxAttempts < 1:
		return nil, fmt.Errorf("producer: Options.MaxAttempts is %d; want at least 1, or 0 for the default %d", opts.MaxAttempts, DefaultMaxAttempts)
	case p.backoffBase < 0 || p.backoffMax < 0:
		return nil, fmt.Errorf("producer: Options.BackoffBase %v and BackoffMax %v must not be negative", opts.BackoffBase, opts.BackoffMax)
	case p.backoffMax < p.backoffBase:
		return nil, fmt.Errorf("producer: Options.BackoffMax %v is below BackoffBase %v", p.backoffMax, p.backoffBase)
	case p.maxBatchBytes < 1024 || p.maxBatchBytes > DefaultMaxBatchBytes:
		return nil, fmt.Errorf("producer: Options.MaxBatchBytes is %d; want 1024 to %d, or 0 for the default %d", opts.MaxBatchBytes, DefaultMaxBatchBytes, DefaultMaxBatchBytes)
	}
	if p.registry == nil {
		reg, err := schema.Load()
		if err != nil {
			return nil, fmt.Errorf("producer: load the embedded log type definitions (or pass Options.Registry): %w", err)
		}
		p.registry = reg
	}
	return p, nil
}

// Event is one log event to publish.
type Event struct {
	// LogType names the event's log type, e.g. "user_action".
	LogType string
	// Body is the event as a JSON object, valid against the newest
	// definition of LogType.
	Body json.RawMessage
}

// NewEvent marshals v (a struct with json tags, or a map) into an Event of
// the given log type. The result is validated only when published.
func NewEvent(logType string, v any) (Event, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Event{}, fmt.Errorf("marshal %s event: %w", logType, err)
	}
	return Event{LogType: logType, Body: b}, nil
}

// Result is the outcome of publishing one event.
type Result struct {
	// Index is the event's position in the PublishBatch input.
	Index int
	// EventID is the event_id of the body, when the body is valid.
	EventID string
	// MessageID is the SQS message id, set when the event was sent.
	MessageID string
	// Err is nil when the event was sent. Otherwise it wraps the reason:
	// *schema.ValidationError, schema.ErrNotJSON, schema.ErrUnknownLogType,
	// ErrBodyTooLarge or ErrInvalidCharacters for an event that was never
	// sent; *SendError when SQS did not accept it; the context's error when
	// ctx ended before it was sent (alongside the *SendError of an earlier
	// failed attempt, if any).
	Err error
}

// Publish validates and sends one event; the error is the Result's Err.
func (p *Producer) Publish(ctx context.Context, ev Event) (Result, error) {
	r := p.PublishBatch(ctx, []Event{ev})[0]
	return r, r.Err
}

// PublishBatch validates every event and sends the valid ones, returning one
// Result per event in input order. Invalid events are never sent. It returns
// when every event has been sent or has failed for good, or when ctx ends.
func (p *Producer) PublishBatch(ctx context.Context, events []Event) []Result {
	results := make([]Result, len(events))
	var todo []*entry
	var decoded schema.Event
	for i, ev := range events {
		results[i].Index = i
		e, err := p.prepare(&decoded, i, ev)
		if err != nil {
			results[i].Err = fmt.Errorf("event %d: %w", i, err)
			continue
		}
		results[i].EventID = e.eventID
		todo = append(todo, e)
	}
	p.sendAll(ctx, todo, results)
	return results
}

// Message is a message to send as it is, with SendMessages.
type Message struct {
	// Body is the message body, sent unchanged.
	Body string
	// Attributes are the message attributes, sent unchanged; nil for none.
	Attributes map[string]types.MessageAttributeValue
}

// SendMessages sends messages as they are, without the checks PublishBatch
// makes of events: for tools that put back messages that were on a queue
// before (a replay of quarantined messages, a dead-letter queue redrive). It
// packs and retries the messages as PublishBatch does and returns one Result
// per message, in input order, with no EventID. A message that no
// SendMessageBatch call could carry fails with ErrBodyTooLarge and is not
// sent; SQS itself refuses a body with characters outside its set (a
// permanent *SendError).
func (p *Producer) SendMessages(ctx context.Context, msgs []Message) []Result {
	results := make([]Result, len(msgs))
	var todo []*entry
	for i, m := range msgs {
		results[i].Index = i
		e, err := p.newEntry(i, m.Body, m.Attributes)
		if err != nil {
			results[i].Err = fmt.Errorf("message %d: %w", i, err)
			continue
		}
		todo = append(todo, e)
	}
	p.sendAll(ctx, todo, results)
	return results
}

// sendAll sends the entries, retrying those that failed transiently, and
// records the outcome of each in results.
func (p *Producer) sendAll(ctx context.Context, todo []*entry, results []Result) {
	for attempt := 1; len(todo) > 0; attempt++ {
		if attempt > 1 {
			if err := sleep(ctx, p.backoff(attempt-1)); err != nil {
				break
			}
		}
		var retry []*entry
		for batch := range p.batches(todo) {
			if ctx.Err() != nil {
				retry = append(retry, batch...)
				continue
			}
			retry = append(retry, p.send(ctx, batch, results)...)
		}
		todo = retry
		if ctx.Err() != nil {
			break
		}
	}
	for _, e := range todo {
		err := fmt.Errorf("event %d not confirmed by SQS: %w", e.index, ctx.Err())
		if e.last != nil {
			err = fmt.Errorf("event %d not confirmed by SQS: %w; publish stopped: %w", e.index, e.last, ctx.Err())
		}
		results[e.index].Err = err
	}
}

// entry is a message waiting to be sent.
type entry struct {
	index    int    // position in the PublishBatch or SendMessages input
	id       string // batch entry id, unique within one call of those
	eventID  string
	attrs    map[string]types.MessageAttributeValue
	body     string
	size     int // bytes SQS counts against the message and batch limits
	attempts int
	last     *SendError // failure of the latest attempt, if any
}

// newEntry returns the i-th message of a call ready to send, or
// ErrBodyTooLarge when SQS would refuse its size.
func (p *Producer) newEntry(i int, body string, attrs map[string]types.MessageAttributeValue) (*entry, error) {
	size := len(body)
	for name, a := range attrs {
		size += len(name) + len(aws.ToString(a.DataType)) + len(aws.ToString(a.StringValue)) + len(a.BinaryValue)
	}
	switch {
	case size > MaxMessageBytes:
		return nil, fmt.Errorf("%w: body and attributes are %d bytes, over the SQS message limit of %d bytes (attribute names, types and values count)", ErrBodyTooLarge, size, MaxMessageBytes)
	case size > p.maxBatchBytes:
		return nil, fmt.Errorf("%w: body and attributes are %d bytes, the batch limit is %d", ErrBodyTooLarge, size, p.maxBatchBytes)
	}
	return &entry{index: i, id: strconv.Itoa(i), attrs: attrs, body: body, size: size}, nil
}

// prepare checks one event and returns it ready to send.
func (p *Producer) prepare(decoded *schema.Event, i int, ev Event) (*entry, error) {
	if len(ev.Body) > schema.MaxBodyBytes {
		return nil, fmt.Errorf("%w: body is %d bytes, the limit is %d", ErrBodyTooLarge, len(ev.Body), schema.MaxBodyBytes)
	}
	def, err := p.registry.Latest(ev.LogType)
	if err != nil {
		return nil, err
	}
	if err := def.DecodeInto(decoded, ev.Body); err != nil {
		return nil, err
	}
	if r := sqsRefused(ev.Body); r >= 0 {
		return nil, fmt.Errorf("%w: %U at byte %d", ErrInvalidCharacters, bytes.Runes(ev.Body[r:])[0], r)
	}
	e, err := p.newEntry(i, string(ev.Body), map[string]types.MessageAttributeValue{
		schema.AttributeLogType: {DataType: aws.String(attributeDataType), StringValue: aws.String(ev.LogType)},
	})
	if err != nil {
		return nil, err
	}
	e.eventID = eventID(def, decoded)
	return e, nil
}

// eventID returns the event_id of a decoded event; every definition has one.
func eventID(def *schema.LogType, decoded *schema.Event) string {
	for i, f := range def.Fields {
		if f.Name == schema.FieldEventID {
			return decoded.Values[i].Str
		}
	}
	return ""
}

// sqsRefused returns the offset of the first U+FFFE or U+FFFF in b, or -1.
// Other characters SQS refuses cannot occur in valid UTF-8 JSON.
func sqsRefused(b []byte) int {
	for i := 0; i+2 < len(b); i++ {
		if b[i] == 0xEF && b[i+1] == 0xBF && (b[i+2] == 0xBE || b[i+2] == 0xBF) {
			return i
		}
	}
	return -1
}

// batches yields the entries in order, grouped into SendMessageBatch calls
// of at most MaxBatchEntries entries and maxBatchBytes payload bytes.
func (p *Producer) batches(entries []*entry) func(yield func([]*entry) bool) {
	return func(yield func([]*entry) bool) {
		start, size := 0, 0
		for i, e := range entries {
			if i-start == MaxBatchEntries || size+e.size > p.maxBatchBytes {
				if !yield(entries[start:i]) {
					return
				}
				start, size = i, 0
			}
			size += e.size
		}
		if start < len(entries) {
			yield(entries[start:])
		}
	}
}

// send makes one SendMessageBatch call, records the outcome of each entry in
// results and returns the entries to retry.
func (p *Producer) send(ctx context.Context, batch []*entry, results []Result) []*entry {
	in := &sqs.SendMessageBatchInput{
		QueueUrl: aws.String(p.queueURL),
		Entries:  make([]types.SendMessageBatchRequestEntry, len(batch)),
	}
	byID := make(map[string]*entry, len(batch))
	for i, e := range batch {
		e.attempts++
		byID[e.id] = e
		in.Entries[i] = types.SendMessageBatchRequestEntry{
			Id:                aws.String(e.id),
			MessageBody:       aws.String(e.body),
			MessageAttributes: e.attrs,
		}
	}

	out, err := p.client.SendMessageBatch(ctx, in)
	if err != nil {
		serr := &SendError{Err: fmt.Errorf("SendMessageBatch to %s: %w", p.queueURL, err)}
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) {
			serr.Code, serr.Message = apiErr.ErrorCode(), apiErr.ErrorMessage()
			serr.SenderFault = apiErr.ErrorFault() == smithy.FaultClient
		}
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			// ctx cut the call short; PublishBatch reports ctx's error.
			return batch
		}
		return p.failed(batch, serr, transient(err), results)
	}

	for _, ok := range out.Successful {
		if e := byID[aws.ToString(ok.Id)]; e != nil {
			results[e.index].MessageID = aws.ToString(ok.MessageId)
			delete(byID, e.id)
		}
	}
	var retry []*entry
	for _, f := range out.Failed {
		e := byID[aws.ToString(f.Id)]
		if e == nil {
			continue
		}
		delete(byID, e.id)
		serr := &SendError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message), SenderFault: f.SenderFault}
		retry = append(retry, p.failed([]*entry{e}, serr, !f.SenderFault, results)...)
	}
	for _, e := range batch {
		if byID[e.id] == nil {
			continue
		}
		// SQS reported neither success nor failure; sending again may
		// duplicate the event, which event_id makes harmless downstream.
		serr := &SendError{Message: "entry " + e.id + " missing from the SendMessageBatch response"}
		retry = append(retry, p.failed([]*entry{e}, serr, true, results)...)
	}
	return retry
}

// failed records a failed attempt of entries and returns those to retry.
func (p *Producer) failed(entries []*entry, base *SendError, retryable bool, results []Result) []*entry {
	var retry []*entry
	for _, e := range entries {
		serr := *base
		serr.Attempts = e.attempts
		serr.Transient = retryable
		e.last = &serr
		if retryable && e.attempts < p.maxAttempts {
			retry = append(retry, e)
			continue
		}
		results[e.index].Err = fmt.Errorf("event %d: %w", e.index, &serr)
	}
	return retry
}

// transient reports whether a failed SendMessageBatch call may succeed if
// made again: network errors, throttling, and faults of the server. Errors
// that blame the request (unknown queue, access denied, malformed batch)
// are not transient.
func transient(err error) bool {
	switch retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) {
	case aws.TrueTernary:
		return true
	case aws.FalseTernary:
		return false
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorFault() == smithy.FaultServer
}

// backoff returns the wait before retry n (1 for the first retry): a random
// duration between half and all of min(BackoffMax, BackoffBase·2ⁿ⁻¹).
func (p *Producer) backoff(n int) time.Duration {
	ceiling := p.backoffBase
	for i := 1; i < n && ceiling < p.backoffMax; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.backoffMax)
	half := ceiling / 2
	if half <= 0 {
		return ceiling
	}
	return ceiling - half + time.Duration(p.jitter(int64(half)+1))
}

// sleep waits for d or until ctx ends, returning ctx's error in that case.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
