// Package producertest provides an in-memory stand-in for the SQS queue that
// package producer sends to, for tests of code that publishes events. It
// checks every SendMessageBatch call the way SQS does, records the messages
// it accepts, and can be told to fail calls or entries. Event gives the
// tests realistic, valid events to publish.
package producertest

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/ore-masora/pipeline/libs/producer"
)

// DefaultMaxBatchBytes is the payload limit a Queue enforces by default, the
// same as the producer's default: SQS's 1 MiB.
const DefaultMaxBatchBytes = producer.DefaultMaxBatchBytes

// Message is a message the Queue accepted.
type Message struct {
	// ID is the message id the Queue assigned: "m1", "m2", ... in order.
	ID   string
	Body string
	// Attributes holds the String message attributes by name.
	Attributes map[string]string
}

// Queue records SendMessageBatch calls. Its zero value accepts every valid
// entry; set the fields before the first call. It is safe for concurrent use.
type Queue struct {
	// MaxBatchBytes is the payload limit checked per call (bodies plus
	// attribute names, types and values); 0 means DefaultMaxBatchBytes.
	MaxBatchBytes int
	// CallError, when set, is asked before each call (numbered from 1); a
	// non-nil error fails the whole call and nothing is accepted.
	CallError func(call int) error
	// EntryError, when set, is asked about each entry of a call; a non-nil
	// result reports that entry as failed (its Id is filled in) instead of
	// accepting it.
	EntryError func(call int, entry types.SendMessageBatchRequestEntry) *types.BatchResultErrorEntry

	mu       sync.Mutex
	calls    [][]types.SendMessageBatchRequestEntry
	messages []Message
}

var batchEntryID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// SendMessageBatch implements producer.SendMessageBatchAPI. Like SQS it
// rejects a whole call with an empty queue URL, no entries, more than ten
// entries, invalid or repeated entry ids, or a payload over MaxBatchBytes.
func (q *Queue) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls = append(q.calls, slices.Clone(in.Entries))
	call := len(q.calls)
	if q.CallError != nil {
		if err := q.CallError(call); err != nil {
			return nil, err
		}
	}
	if err := q.check(in); err != nil {
		return nil, err
	}

	out := new(sqs.SendMessageBatchOutput)
	for _, e := range in.Entries {
		if q.EntryError != nil {
			if f := q.EntryError(call, e); f != nil {
				f.Id = e.Id
				out.Failed = append(out.Failed, *f)
				continue
			}
		}
		m := Message{ID: "m" + strconv.Itoa(len(q.messages)+1), Body: aws.ToString(e.MessageBody), Attributes: map[string]string{}}
		for name, v := range e.MessageAttributes {
			m.Attributes[name] = aws.ToString(v.StringValue)
		}
		q.messages = append(q.messages, m)
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String(m.ID)})
	}
	return out, nil
}

// check validates a call the way SQS does before looking at entries, with
// the errors the SQS client returns.
func (q *Queue) check(in *sqs.SendMessageBatchInput) error {
	limit := q.MaxBatchBytes
	if limit == 0 {
		limit = DefaultMaxBatchBytes
	}
	switch {
	case aws.ToString(in.QueueUrl) == "":
		return &smithy.GenericAPIError{Code: "MissingParameter", Message: "QueueUrl is required", Fault: smithy.FaultClient}
	case len(in.Entries) == 0:
		return &types.EmptyBatchRequest{Message: aws.String("the batch request holds no entries")}
	case len(in.Entries) > 10:
		return &types.TooManyEntriesInBatchRequest{Message: aws.String(fmt.Sprintf("%d entries; at most 10 are allowed", len(in.Entries)))}
	}
	ids := make(map[string]bool, len(in.Entries))
	size := 0
	for _, e := range in.Entries {
		id := aws.ToString(e.Id)
		if !batchEntryID.MatchString(id) {
			return &types.InvalidBatchEntryId{Message: aws.String(fmt.Sprintf("invalid batch entry id %q", id))}
		}
		if ids[id] {
			return &types.BatchEntryIdsNotDistinct{Message: aws.String(fmt.Sprintf("batch entry id %q appears twice", id))}
		}
		ids[id] = true
		size += MessageSize(e)
	}
	if size > limit {
		return &types.BatchRequestTooLong{Message: aws.String(fmt.Sprintf("batch payload is %d bytes; the limit is %d", size, limit))}
	}
	return nil
}

// MessageSize is the size SQS counts for an entry: its body plus the name,
// data type and value of each attribute.
func MessageSize(e types.SendMessageBatchRequestEntry) int {
	n := len(aws.ToString(e.MessageBody))
	for name, v := range e.MessageAttributes {
		n += len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// Messages returns the accepted messages in the order they were accepted.
func (q *Queue) Messages() []Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Message, len(q.messages))
	for i, m := range q.messages {
		m.Attributes = maps.Clone(m.Attributes)
		out[i] = m
	}
	return out
}

// Calls returns the entries of every SendMessageBatch call made, in order,
// including calls that failed.
func (q *Queue) Calls() [][]types.SendMessageBatchRequestEntry {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.calls)
}
