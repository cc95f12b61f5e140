// Package handlertest builds realistic SQS messages for Ore's tests and
// benchmarks, and reads back what the handler wrote.
package handlertest

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/parquetrowtest"
)

var (
	actions  = []string{"product_viewed", "product_searched", "added_to_cart", "removed_from_cart", "cart_confirmed", "order_placed"}
	channels = []string{"web", "app", "whatsapp"}
)

// EventID returns the event_id of the i-th generated event.
func EventID(i int) string { return fmt.Sprintf("5f0c6a1e-8d7b-4c1a-9e2f-%012x", i) }

// UserAction returns a valid user_action v2 body of about 500 bytes, like
// the web shop sends.
func UserAction(i int, at time.Time) string {
	return fmt.Sprintf(`{"event_id":%q,"occurred_at":%q,"source":"web-frontend","action":%q,"channel":%q,`+
		`"user_id":"user-%07d","session_id":"sess-%010d","product_id":"sku-%06d","cart_id":"cart-%08d",`+
		`"quantity":%d,"amount_cents":%d,"currency":"EUR","app_version":"4.%d.%d",`+
		`"attributes":{"user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",`+
		`"referrer":"https://shop.example/category/%d?page=%d","ip_country":"NL","experiment":"checkout-v%d"}}`,
		EventID(i), at.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), actions[i%len(actions)], channels[i%len(channels)],
		i%50000, i/7, i%9973, i/3, 1+i%5, 100+i%100000, i%10, i%100, i%40, i%9, i%3)
}

// SellerAction returns a valid seller_action body.
func SellerAction(i int, at time.Time) string {
	return fmt.Sprintf(`{"event_id":%q,"occurred_at":%q,"source":"seller-dashboard","action":"stock_updated",`+
		`"seller_id":"seller-%04d","product_id":"sku-%06d","stock":%d}`,
		EventID(i), at.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), i%500, i%9973, i%1000)
}

// Message returns an SQS message as Lambda delivers it; an empty logType
// means no log_type message attribute.
func Message(id, logType, body string) events.SQSMessage {
	m := events.SQSMessage{
		MessageId:     id,
		ReceiptHandle: "rh-" + id,
		Body:          body,
		EventSource:   "aws:sqs",
		AWSRegion:     "eu-west-1",
	}
	if logType != "" {
		m.MessageAttributes = map[string]events.SQSMessageAttribute{
			"log_type": {StringValue: &logType, DataType: "String"},
		}
	}
	return m
}

// UserActionBatch returns n user_action messages with ids msg-<i>.
func UserActionBatch(n int, at time.Time) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, n)}
	for i := range n {
		ev.Records[i] = Message(fmt.Sprintf("msg-%06d", i), "user_action", UserAction(i, at))
	}
	return ev
}

// Outcome is what a bucket holds after Ore handled batches: the message ids
// in each parquet file (sorted) and the quarantine records.
type Outcome struct {
	// Files maps object paths to the sorted message ids of their rows.
	Files map[string][]string
	// Quarantine holds every quarantine record, by object path.
	Quarantine map[string][]quarantine.Record
}

// ReadOutcome reads the objects whose paths and contents are given, checking
// that every path parses in the layout, every parquet file reads back with
// the log type's newest definition and each row's message id is unique.
func ReadOutcome(t testing.TB, prefix string, objects map[string][]byte) Outcome {
	t.Helper()
	reg := schema.MustLoad()
	out := Outcome{Files: map[string][]string{}, Quarantine: map[string][]quarantine.Record{}}
	for path, data := range objects {
		obj, err := layout.Parse(prefix, path)
		if err != nil {
			t.Fatalf("handlertest: object outside the layout: %v", err)
		}
		switch obj.Kind {
		case layout.Data:
			lt, err := reg.Latest(obj.LogType)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, row := range parquetrowtest.Read(t, data, lt) {
				ids = append(ids, row[schema.ColMessageID].(string))
			}
			slices.Sort(ids)
			if obj.Name != layout.Name(ids) {
				t.Errorf("handlertest: %s is not named after its message ids (want %s)", path, layout.Name(ids))
			}
			out.Files[path] = ids
		case layout.Quarantine:
			err := quarantine.Decode(bytes.NewReader(data), func(r quarantine.Record) error {
				out.Quarantine[path] = append(out.Quarantine[path], r)
				return nil
			})
			if err != nil {
				t.Fatalf("handlertest: read %s: %v", path, err)
			}
		}
	}
	return out
}
