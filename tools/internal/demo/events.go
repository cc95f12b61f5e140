// Package demo runs the pipeline end to end on the local stack: it publishes a
// realistic stream of events with the producer library (plus duplicates and
// bad messages sent around it), runs Ore in poll mode until the queue is
// drained, triggers Masora's /run the way Cloud Scheduler does, and reads a
// report back from Postgres. `make demo` and the end-to-end test both use it.
package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
)

// Message is one message the demo sends to the queue.
type Message struct {
	// LogType is the log_type message attribute ("" sends none).
	LogType string
	Body    []byte
	// EventID is the body's event_id, "" for bodies without one.
	EventID string
	// Bad says why Ore must quarantine the message; "" for a valid one.
	Bad string
	// Kind is the reason kind Ore must give a bad message.
	Kind quarantine.Kind
}

// HourKey identifies one row of an hourly summary: the occurred_at hour (UTC)
// and the summary's dimension values, joined by "|".
type HourKey struct {
	Hour time.Time
	Dims string
}

// HourCount is the expected value of one hourly summary row.
type HourCount struct {
	Events   int64
	Distinct int64
}

// Plan is a generated event stream and what the pipeline must make of it,
// computed from the events alone (independently of Ore and Masora).
type Plan struct {
	// Valid are the distinct valid events, published with the producer.
	Valid []Message
	// Duplicates are valid events published a second time (SQS is
	// at-least-once; producers retry).
	Duplicates []Message
	// Bad are messages sent around the producer, which would refuse them.
	Bad []Message
	// Rows is the number of rows each log type's table must end up with.
	Rows map[string]int
	// Summary is each log type's expected hourly summary.
	Summary map[string]map[HourKey]HourCount
}

// GenerateOptions size the generated stream.
type GenerateOptions struct {
	// Events is the number of distinct valid events (both log types).
	Events int
	// Seed makes the stream reproducible.
	Seed uint64
	// Now anchors occurred_at: events happen in the 6 hours before it.
	Now time.Time
}

// window is how long before GenerateOptions.Now the events occur.
const window = 6 * time.Hour

// Generate builds a stream of opts.Events valid events from eventgen over
// the 6 hours before opts.Now, in sessions: customer sessions (search, cart,
// order or cancellation, many over WhatsApp) and, one session in five, a
// seller's dashboard actions; plus 2% duplicates and one of each kind of bad
// message.
func Generate(reg *schema.Registry, opts GenerateOptions) (*Plan, error) {
	if opts.Events < 10 {
		return nil, fmt.Errorf("demo: at least 10 events are needed, got %d", opts.Events)
	}
	gen, err := eventgen.New(reg, eventgen.Options{
		Seed:         opts.Seed,
		Start:        opts.Now.UTC().Add(-window),
		Step:         window / time.Duration(opts.Events),
		OptionalRate: 0.9,
		Actors:       max(opts.Events/20, 5),
		Zones:        true,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	plan := &Plan{Rows: map[string]int{}, Summary: map[string]map[HourKey]HourCount{}}
	logType := ""
	for i := range opts.Events {
		if i%eventgen.SessionLen == 0 {
			logType = "user_action"
			if rng.IntN(5) == 0 {
				logType = "seller_action"
			}
		}
		ev, err := gen.Event(logType, i)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		plan.Valid = append(plan.Valid, Message{LogType: logType, Body: ev.Body, EventID: ev.EventID})
	}
	for range max(len(plan.Valid)/50, 1) {
		plan.Duplicates = append(plan.Duplicates, plan.Valid[rng.IntN(len(plan.Valid))])
	}
	if plan.Bad, err = badMessages(gen, opts.Events); err != nil {
		return nil, err
	}
	if err := plan.expect(reg); err != nil {
		return nil, err
	}
	return plan, nil
}

// badMessages returns one message of each kind Ore must quarantine, made
// from generated events first, first+1, ... with one thing broken.
func badMessages(gen *eventgen.Gen, first int) ([]Message, error) {
	var valid []map[string]any
	for i := range 5 {
		ev, err := gen.Event("user_action", first+i)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		valid = append(valid, ev.Fields)
	}
	body := func(m map[string]any) []byte {
		b, _ := json.Marshal(m) // generated fields always marshal
		return b
	}
	id := func(m map[string]any) string { return m[schema.FieldEventID].(string) }
	// No oversize message: SQS refuses a body over 1 MiB (schema.MaxBodyBytes)
	// before Ore could see it; Ore's own check is tested in its handler.
	missing, wrongType, badEnum, unknown, unnamed := valid[0], valid[1], valid[2], valid[3], valid[4]
	// Bad data comes from a few producers, each with its own bug, so the
	// report's data-quality table has something to say.
	for _, p := range []struct {
		fields map[string]any
		source string
	}{
		{missing, "mobile-api"}, {wrongType, "mobile-api"}, {badEnum, "web-frontend"},
		{unknown, "web-frontend"}, {unnamed, "legacy-importer"},
	} {
		p.fields[schema.FieldSource] = p.source
	}
	delete(missing, "user_id")
	wrongType["quantity"] = "two"
	badEnum["channel"] = "fax"
	return []Message{
		{LogType: "user_action", Body: []byte(`{"event_id": "truncated`), Bad: "not JSON", Kind: quarantine.KindMalformedJSON},
		{LogType: "user_action", Body: []byte(`["not", "an", "object"]`), Bad: "not a JSON object", Kind: quarantine.KindMalformedJSON},
		{LogType: "user_action", Body: body(missing), EventID: id(missing), Bad: "missing required field user_id", Kind: quarantine.KindInvalidFields},
		{LogType: "user_action", Body: body(wrongType), EventID: id(wrongType), Bad: "quantity is not an integer", Kind: quarantine.KindInvalidFields},
		{LogType: "user_action", Body: body(badEnum), EventID: id(badEnum), Bad: "unknown channel", Kind: quarantine.KindInvalidFields},
		{LogType: "page_view", Body: body(unknown), EventID: id(unknown), Bad: "unknown log type page_view", Kind: quarantine.KindUnknownLogType},
		{Body: body(unnamed), EventID: id(unnamed), Bad: "no log type", Kind: quarantine.KindNoLogType},
	}, nil
}

// expect computes the rows and hourly summaries the valid events must give,
// decoding them with the shared definitions.
func (p *Plan) expect(reg *schema.Registry) error {
	distinct := map[string]map[HourKey]map[string]bool{}
	for _, m := range p.Valid {
		lt, err := reg.Latest(m.LogType)
		if err != nil {
			return err
		}
		ev, err := lt.Decode(m.Body)
		if err != nil {
			return fmt.Errorf("demo: generated an invalid %s event: %w", m.LogType, err)
		}
		get := func(name string) schema.Value {
			for i, f := range lt.Fields {
				if f.Name == name {
					return ev.Values[i]
				}
			}
			panic("demo: no field " + name)
		}
		dims := make([]string, len(lt.Summary.Dimensions))
		for i, d := range lt.Summary.Dimensions {
			dims[i] = get(d).Str
		}
		key := HourKey{
			Hour: time.UnixMicro(get(schema.FieldOccurredAt).Int).UTC().Truncate(time.Hour),
			Dims: strings.Join(dims, "|"),
		}
		if p.Summary[m.LogType] == nil {
			p.Summary[m.LogType] = map[HourKey]HourCount{}
			distinct[m.LogType] = map[HourKey]map[string]bool{}
		}
		c := p.Summary[m.LogType][key]
		c.Events++
		if distinct[m.LogType][key] == nil {
			distinct[m.LogType][key] = map[string]bool{}
		}
		who := get(lt.Summary.Distinct).Str
		if !distinct[m.LogType][key][who] {
			distinct[m.LogType][key][who] = true
			c.Distinct++
		}
		p.Summary[m.LogType][key] = c
		p.Rows[m.LogType]++
	}
	return nil
}
