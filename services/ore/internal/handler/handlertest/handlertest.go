// Package handlertest builds realistic SQS messages for Ore's tests and
// benchmarks, and reads back what the handler wrote.
package handlertest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
	"github.com/ore-masora/pipeline/libs/testkit/parquetrowtest"
)

// seed is the eventgen seed of every event this package builds.
const seed = 1

var registry = sync.OnceValue(schema.MustLoad)

// generator returns the generator of this package's events: event i occurs
// at at + i milliseconds and has every optional field that applies to it.
func generator(at time.Time) *eventgen.Gen {
	g, err := eventgen.New(registry(), eventgen.Options{Seed: seed, Start: at, Step: time.Millisecond, OptionalRate: 1})
	if err != nil {
		panic("handlertest: " + err.Error()) // the options are constants
	}
	return g
}

// Event returns generated event i of the log type (see generator).
func Event(logType string, i int, at time.Time) eventgen.Event {
	ev, err := generator(at).Event(logType, i)
	if err != nil {
		panic("handlertest: " + err.Error())
	}
	return ev
}

// EventID returns the event_id of the i-th generated event.
func EventID(i int) string { return eventgen.EventID(seed, i) }

// UserAction returns the body of generated user_action event i, a realistic
// step of a customer session like the web shop, app or WhatsApp bot sends.
func UserAction(i int, at time.Time) string { return string(Event("user_action", i, at).Body) }

// SellerAction returns the body of generated seller_action event i.
func SellerAction(i int, at time.Time) string { return string(Event("seller_action", i, at).Body) }

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

// UserActionBatch returns n user_action messages with ids msg-<i>, the
// bodies of generated events 0 to n-1.
func UserActionBatch(n int, at time.Time) events.SQSEvent {
	g := generator(at)
	batch := events.SQSEvent{Records: make([]events.SQSMessage, n)}
	for i := range n {
		ev, err := g.Event("user_action", i)
		if err != nil {
			panic("handlertest: " + err.Error())
		}
		batch.Records[i] = Message(fmt.Sprintf("msg-%06d", i), "user_action", string(ev.Body))
	}
	return batch
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
			if obj.Version != lt.Version {
				t.Errorf("handlertest: %s is named version %d, want %d: Ore writes every file with the latest definition", path, obj.Version, lt.Version)
			}
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
