package producer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/producer/producertest"
	"github.com/ore-masora/pipeline/libs/schema"
)

// Publishing a batch and handling each event's result. A service passes its
// *sqs.Client (see the package doc); here an in-memory queue stands in.
func Example() {
	ctx := context.Background()
	queue := new(producertest.Queue)
	p, err := producer.New(queue, producer.Options{QueueURL: "http://sqs.us-east-1.localhost:4566/000000000000/logs"})
	if err != nil {
		fmt.Println(err)
		return
	}

	events := []producer.Event{
		{LogType: "user_action", Body: json.RawMessage(`{"event_id":"6f1c1e1a-5d2b-4c8e-9a3f-0b7d2e4c6a81","occurred_at":"2025-11-26T10:15:00+01:00","source":"web-frontend","action":"cart_confirmed","channel":"web","user_id":"u-42","cart_id":"c-7"}`)},
		{LogType: "user_action", Body: json.RawMessage(`{"event_id":"not-a-uuid","occurred_at":"yesterday","source":"web-frontend","action":"cart_confirmed","channel":"fax"}`)},
		{LogType: "page_view", Body: json.RawMessage(`{}`)},
		{LogType: "seller_action", Body: json.RawMessage(`{"event_id":"0d9b6a52-3f4e-4a71-8c2d-5e6f7a8b9c0d","occurred_at":"2025-11-26T09:00:00Z","source":"seller-dashboard","action":"package_status_updated","seller_id":"s-9","package_id":"p-3","old_status":"packed","new_status":"shipped"}`)},
	}
	for _, r := range p.PublishBatch(ctx, events) {
		var invalid *schema.ValidationError
		switch {
		case r.Err == nil:
			fmt.Printf("%d: sent %s as message %s\n", r.Index, r.EventID, r.MessageID)
		case errors.As(r.Err, &invalid):
			// Each FieldError also says what is wrong with the field.
			fmt.Printf("%d: not sent, invalid fields:", r.Index)
			for _, f := range invalid.Fields {
				fmt.Printf(" %s", f.Field)
			}
			fmt.Println()
		case errors.Is(r.Err, schema.ErrUnknownLogType):
			fmt.Printf("%d: not sent: %v\n", r.Index, r.Err)
		default:
			fmt.Printf("%d: failed: %v\n", r.Index, r.Err)
		}
	}
	for _, m := range queue.Messages() {
		fmt.Printf("queue: %s log_type=%s\n", m.ID, m.Attributes[schema.AttributeLogType])
	}
	// Output:
	// 0: sent 6f1c1e1a-5d2b-4c8e-9a3f-0b7d2e4c6a81 as message m1
	// 1: not sent, invalid fields: event_id occurred_at channel user_id
	// 2: not sent: event 2: unknown log type "page_view" (known: seller_action, user_action)
	// 3: sent 0d9b6a52-3f4e-4a71-8c2d-5e6f7a8b9c0d as message m2
	// queue: m1 log_type=user_action
	// queue: m2 log_type=seller_action
}

// An event SQS keeps refusing with a transient error is reported as a
// *producer.SendError once its attempts run out; the caller may keep it and
// publish it again later.
func ExampleSendError() {
	queue := &producertest.Queue{
		EntryError: func(int, types.SendMessageBatchRequestEntry) *types.BatchResultErrorEntry {
			return &types.BatchResultErrorEntry{Code: aws.String("ServiceUnavailable"), Message: aws.String("try again later")}
		},
	}
	p, err := producer.New(queue, producer.Options{QueueURL: "http://sqs.us-east-1.localhost:4566/000000000000/logs", MaxAttempts: 3, BackoffBase: 1, BackoffMax: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	ev, err := producer.NewEvent("seller_action", map[string]any{
		"event_id":    "0d9b6a52-3f4e-4a71-8c2d-5e6f7a8b9c0d",
		"occurred_at": "2025-11-26T09:00:00Z",
		"source":      "seller-dashboard",
		"action":      "order_accepted",
		"seller_id":   "s-9",
		"order_id":    "o-1",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	_, err = p.Publish(context.Background(), ev)
	var se *producer.SendError
	if errors.As(err, &se) && se.Transient {
		fmt.Printf("keep for later: %s after %d attempts\n", se.Code, se.Attempts)
	}
	fmt.Println(err)
	fmt.Println("calls:", len(queue.Calls()), "messages:", len(queue.Messages()))
	// Output:
	// keep for later: ServiceUnavailable after 3 attempts
	// event 0: send to SQS (gave up after 3 attempts): ServiceUnavailable: try again later
	// calls: 3 messages: 0
}
