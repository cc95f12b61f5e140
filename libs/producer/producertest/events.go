package producertest

import (
	"sync"
	"testing"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
)

// Seed is the eventgen seed of the events Event returns: event i has the
// event_id eventgen.EventID(Seed, i).
const Seed = 1

var registry = sync.OnceValues(schema.Load)

// Event returns event i of the log type as a producer publishes it: a
// realistic, valid body from eventgen (half of the optional fields set).
// A positive bodyBytes pads the body to exactly that many bytes, for tests
// of size limits. The test fails if the event cannot be generated.
func Event(t testing.TB, logType string, i, bodyBytes int) producer.Event {
	t.Helper()
	reg, err := registry()
	if err != nil {
		t.Fatalf("producertest: %v", err)
	}
	g, err := eventgen.New(reg, eventgen.Options{Seed: Seed, OptionalRate: 0.5, BodyBytes: bodyBytes})
	if err != nil {
		t.Fatalf("producertest: %v", err)
	}
	ev, err := g.Event(logType, i)
	if err != nil {
		t.Fatalf("producertest: %v", err)
	}
	return producer.Event{LogType: ev.LogType, Body: ev.Body}
}
