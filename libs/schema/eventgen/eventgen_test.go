package eventgen_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
)

func newGen(t testing.TB, reg *schema.Registry, opts eventgen.Options) *eventgen.Gen {
	t.Helper()
	g, err := eventgen.New(reg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

func event(t testing.TB, g *eventgen.Gen, logType string, i int) eventgen.Event {
	t.Helper()
	ev, err := g.Event(logType, i)
	if err != nil {
		t.Fatalf("Event(%s, %d): %v", logType, i, err)
	}
	return ev
}

// checkValid decodes ev's body with its log type's newest definition and
// checks that the event agrees with what was decoded.
func checkValid(t *testing.T, reg *schema.Registry, ev eventgen.Event) {
	t.Helper()
	lt, err := reg.Latest(ev.LogType)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := lt.Decode(ev.Body)
	if err != nil {
		t.Fatalf("%s event %s is invalid: %v\n%s", ev.LogType, ev.EventID, err, ev.Body)
	}
	if dec.Extra != nil {
		t.Errorf("%s event has fields the definition does not know: %s", ev.LogType, dec.Extra)
	}
	for i, f := range lt.Fields {
		v := dec.Values[i]
		if _, set := ev.Fields[f.Name]; set == v.Null {
			t.Errorf("%s.%s: in Fields %v, in the body %v", ev.LogType, f.Name, set, !v.Null)
		}
	}
	if got := dec.Values[slices.IndexFunc(lt.Fields, func(f schema.Field) bool { return f.Name == schema.FieldEventID })].Str; got != ev.EventID {
		t.Errorf("body event_id %s, Event.EventID %s", got, ev.EventID)
	}
}

// TestEventsAreValid generates events of every log type over many seeds,
// indexes and options, and decodes each with the shared definitions.
func TestEventsAreValid(t *testing.T) {
	reg := schema.MustLoad()
	opts := []eventgen.Options{
		{},
		{OptionalRate: 1},
		{OptionalRate: 0.5, Zones: true, Actors: 3},
		{OptionalRate: 1, BodyBytes: 2000, Step: time.Hour},
	}
	n := 0
	for seed := range uint64(40) {
		for k, o := range opts {
			o.Seed = seed
			g := newGen(t, reg, o)
			for _, lt := range reg.Names() {
				for i := range 3 * eventgen.SessionLen {
					checkValid(t, reg, event(t, g, lt, int(seed)*1000+k*100+i))
					n++
				}
			}
		}
	}
	t.Logf("%d events checked", n)
}

// FuzzEvent checks that events of any seed, index and options are valid.
func FuzzEvent(f *testing.F) {
	reg := schema.MustLoad()
	f.Add(uint64(0), 0, uint8(0), false, uint16(0))
	f.Add(uint64(7), 12345, uint8(128), true, uint16(900))
	f.Add(uint64(1<<63), 1<<40, uint8(255), true, uint16(0))
	f.Fuzz(func(t *testing.T, seed uint64, i int, rate uint8, zones bool, pad uint16) {
		if i < 0 {
			i = -(i + 1)
		}
		g := newGen(t, reg, eventgen.Options{Seed: seed, OptionalRate: float64(rate) / 255, Zones: zones})
		for _, lt := range reg.Names() {
			ev := event(t, g, lt, i)
			checkValid(t, reg, ev)
			if pad == 0 {
				continue
			}
			// The pad member itself takes up to 24 bytes: ,"attributes":{"pad":""}.
			size := len(ev.Body) + 24 + int(pad)
			padded := event(t, newGen(t, reg, eventgen.Options{Seed: seed, OptionalRate: float64(rate) / 255, Zones: zones, BodyBytes: size}), lt, i)
			checkValid(t, reg, padded)
			if len(padded.Body) != size {
				t.Errorf("padded body is %d bytes, want %d", len(padded.Body), size)
			}
		}
	})
}

// kitchenSink is a log type with every field type and constraint.
const kitchenSink = `{"log_type": "kitchen_sink", "version": 1, "table": "kitchen_sinks",
 "fields": [
  {"name": "event_id", "type": "uuid", "required": true},
  {"name": "occurred_at", "type": "timestamp", "required": true},
  {"name": "source", "type": "string", "required": true, "max_length": 4},
  {"name": "region", "type": "string", "required": true, "max_length": 3},
  {"name": "account", "type": "string", "required": true, "max_length": 5},
  {"name": "kind", "type": "string", "required": true, "enum": ["a", "b"]},
  {"name": "device_id", "type": "string", "max_length": 6},
  {"name": "parent", "type": "uuid"},
  {"name": "seen_at", "type": "timestamp"},
  {"name": "count", "type": "int64", "required": true, "min": -5, "max": 5},
  {"name": "above", "type": "int64", "min": 1000000},
  {"name": "below", "type": "int64", "max": -1000000},
  {"name": "tiny", "type": "int64", "min": 0, "max": 0},
  {"name": "ratio", "type": "float64", "required": true, "min": 0, "max": 1},
  {"name": "huge", "type": "float64", "min": 1e308},
  {"name": "wide", "type": "float64", "min": -1e308, "max": 1e308},
  {"name": "widest", "type": "int64", "min": -1e19, "max": 1e19},
  {"name": "beyond", "type": "int64", "min": 1e16},
  {"name": "free", "type": "float64"},
  {"name": "flag", "type": "bool", "required": true},
  {"name": "meta", "type": "json"}
 ],
 "hourly_summary": {"table": "kitchen_sink_hourly", "dimensions": ["kind", "region"], "distinct": "account", "distinct_column": "accounts"}}`

// bare has only the fields every log type must have.
const bare = `{"log_type": "bare", "version": 1, "table": "bares",
 "fields": [
  {"name": "event_id", "type": "uuid", "required": true},
  {"name": "occurred_at", "type": "timestamp", "required": true},
  {"name": "source", "type": "string", "required": true}
 ],
 "hourly_summary": {"table": "bare_hourly", "dimensions": [], "distinct": "source", "distinct_column": "sources"}}`

func testRegistry(t testing.TB) *schema.Registry {
	t.Helper()
	reg, err := schema.LoadFS(fstest.MapFS{
		"lt/kitchen_sink/v1.json": {Data: []byte(kitchenSink)},
		"lt/bare/v1.json":         {Data: []byte(bare)},
	}, "lt")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestLogTypesFromDefinitionOnly generates events of log types the package
// has no profile for, with every field type and constraint.
func TestLogTypesFromDefinitionOnly(t *testing.T) {
	reg := testRegistry(t)
	present := map[string]bool{}
	for seed := range uint64(20) {
		g := newGen(t, reg, eventgen.Options{Seed: seed, OptionalRate: 0.7, Actors: 5})
		for i := range 50 {
			for _, lt := range reg.Names() {
				ev := event(t, g, lt, i)
				checkValid(t, reg, ev)
				for k := range ev.Fields {
					present[k] = true
				}
			}
		}
	}
	lt, _ := reg.Latest("kitchen_sink")
	for _, f := range lt.Fields {
		if !present[f.Name] {
			t.Errorf("field %s was never generated", f.Name)
		}
	}
}

func TestNewRejectsOptions(t *testing.T) {
	reg := schema.MustLoad()
	tests := []struct {
		name string
		reg  *schema.Registry
		opts eventgen.Options
		want string
	}{
		{"no registry", nil, eventgen.Options{}, "a schema registry is required"},
		{"rate below 0", reg, eventgen.Options{OptionalRate: -0.1}, "OptionalRate is -0.1"},
		{"rate above 1", reg, eventgen.Options{OptionalRate: 1.5}, "OptionalRate is 1.5"},
		{"negative step", reg, eventgen.Options{Step: -time.Second}, "Step is -1s"},
		{"negative actors", reg, eventgen.Options{Actors: -1}, "Actors is -1"},
		{"negative body size", reg, eventgen.Options{BodyBytes: -1}, "BodyBytes is -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := eventgen.New(tt.reg, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestEventErrors(t *testing.T) {
	tests := []struct {
		name    string
		reg     *schema.Registry
		opts    eventgen.Options
		logType string
		i       int
		want    string
	}{
		{"unknown log type", schema.MustLoad(), eventgen.Options{}, "page_view", 0, `unknown log type "page_view"`},
		{"negative index", schema.MustLoad(), eventgen.Options{}, "user_action", -1, "event index -1 is negative"},
		{"body larger than BodyBytes", schema.MustLoad(), eventgen.Options{BodyBytes: 100}, "user_action", 0, "over Options.BodyBytes 100"},
		{"nothing to pad", testRegistry(t), eventgen.Options{BodyBytes: 1000}, "bare", 0, "the log type has no json field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newGen(t, tt.reg, tt.opts).Event(tt.logType, tt.i)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Event = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	reg := schema.MustLoad()
	opts := eventgen.Options{Seed: 42, OptionalRate: 0.6, Zones: true}
	a, b := newGen(t, reg, opts), newGen(t, reg, opts)
	// b is asked in reverse order: event i does not depend on the others.
	for _, lt := range reg.Names() {
		var first, second [][]byte
		for i := range 100 {
			first = append(first, event(t, a, lt, i).Body)
		}
		for i := 99; i >= 0; i-- {
			second = append(second, event(t, b, lt, i).Body)
		}
		slices.Reverse(second)
		if diff := cmp.Diff(first, second); diff != "" {
			t.Errorf("%s: same options, different bodies (-first +second):\n%s", lt, diff)
		}
	}
	opts.Seed = 43
	other := newGen(t, reg, opts)
	if string(event(t, a, "user_action", 5).Body) == string(event(t, other, "user_action", 5).Body) {
		t.Error("seeds 42 and 43 give the same event 5")
	}
}

func TestEventID(t *testing.T) {
	seen := map[string]bool{}
	for _, seed := range []uint64{0, 1, 1 << 50} {
		for i := range 20000 {
			id := eventgen.EventID(seed, i)
			if seen[id] {
				t.Fatalf("EventID(%d, %d) = %s, already generated", seed, i, id)
			}
			seen[id] = true
			if id[14] != '4' || !strings.Contains("89ab", id[19:20]) {
				t.Fatalf("EventID(%d, %d) = %s is not a version 4 UUID", seed, i, id)
			}
		}
	}
	if got := eventgen.EventID(9, 12); got != eventgen.EventID(9, 12) {
		t.Errorf("EventID is not stable: %s", got)
	}
}

func TestOptions(t *testing.T) {
	reg := schema.MustLoad()
	start := time.Date(2025, 3, 1, 23, 30, 0, 123456789, time.UTC)
	required := func(lt string) []string {
		def, _ := reg.Latest(lt)
		var names []string
		for _, f := range def.Fields {
			if f.Required {
				names = append(names, f.Name)
			}
		}
		return names
	}
	fieldNames := func(evs []eventgen.Event) []string {
		set := map[string]bool{}
		for _, ev := range evs {
			for k := range ev.Fields {
				set[k] = true
			}
		}
		return slices.Sorted(maps.Keys(set))
	}
	tests := []struct {
		name  string
		opts  eventgen.Options
		lt    string
		check func(t *testing.T, evs []eventgen.Event)
	}{{
		name: "zero rate: required fields only",
		lt:   "user_action",
		check: func(t *testing.T, evs []eventgen.Event) {
			if diff := cmp.Diff(slices.Sorted(slices.Values(required("user_action"))), fieldNames(evs)); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		},
	}, {
		name: "rate 1: every field that applies",
		opts: eventgen.Options{OptionalRate: 1},
		lt:   "user_action",
		check: func(t *testing.T, evs []eventgen.Event) {
			def, _ := reg.Latest("user_action")
			var all []string
			for _, f := range def.Fields {
				all = append(all, f.Name)
			}
			if diff := cmp.Diff(slices.Sorted(slices.Values(all)), fieldNames(evs)); diff != "" {
				t.Errorf("fields over all events (-want +got):\n%s", diff)
			}
			for _, ev := range evs {
				if ev.Fields["action"] == "added_to_cart" {
					for _, f := range []string{"session_id", "product_id", "cart_id", "quantity", "amount_cents", "currency", "attributes"} {
						if _, ok := ev.Fields[f]; !ok {
							t.Errorf("added_to_cart event without %s: %s", f, ev.Body)
						}
					}
				}
				if _, ok := ev.Fields["order_id"]; ok && ev.Fields["action"] == "product_viewed" {
					t.Errorf("product_viewed event with an order id: %s", ev.Body)
				}
			}
		},
	}, {
		name: "start and step",
		opts: eventgen.Options{Start: start, Step: 90 * time.Second},
		lt:   "seller_action",
		check: func(t *testing.T, evs []eventgen.Event) {
			for i, ev := range evs {
				want := start.Add(time.Duration(i) * 90 * time.Second).Truncate(time.Microsecond)
				if !ev.OccurredAt.Equal(want) || ev.Fields["occurred_at"] != ev.OccurredAt {
					t.Fatalf("event %d occurred at %v (field %v), want %v", i, ev.OccurredAt, ev.Fields["occurred_at"], want)
				}
			}
		},
	}, {
		name: "default start, UTC",
		lt:   "user_action",
		check: func(t *testing.T, evs []eventgen.Event) {
			if want := eventgen.DefaultStart.Add(3 * time.Second); evs[3].OccurredAt != want {
				t.Errorf("event 3 occurred at %v, want %v", evs[3].OccurredAt, want)
			}
			if !strings.Contains(string(evs[3].Body), `"occurred_at":"2026-11-26T10:00:03Z"`) {
				t.Errorf("body %s does not have occurred_at in UTC", evs[3].Body)
			}
		},
	}, {
		name: "zones: same instants, several offsets",
		opts: eventgen.Options{Zones: true, Start: start, Step: time.Minute},
		lt:   "user_action",
		check: func(t *testing.T, evs []eventgen.Event) {
			offsets := map[int]bool{}
			for i, ev := range evs {
				if want := start.Add(time.Duration(i) * time.Minute).Truncate(time.Microsecond); !ev.OccurredAt.Equal(want) {
					t.Fatalf("event %d occurred at %v, want %v", i, ev.OccurredAt, want)
				}
				_, off := ev.OccurredAt.Zone()
				offsets[off] = true
			}
			if len(offsets) < 3 {
				t.Errorf("offsets %v; want a mix", offsets)
			}
		},
	}, {
		name: "actors: a small pool per log type",
		opts: eventgen.Options{Actors: 4, OptionalRate: 0.5},
		lt:   "seller_action",
		check: func(t *testing.T, evs []eventgen.Event) {
			sellers := map[any]bool{}
			for _, ev := range evs {
				sellers[ev.Fields["seller_id"]] = true
			}
			if len(sellers) != 4 {
				t.Errorf("%d distinct sellers, want 4: %v", len(sellers), sellers)
			}
		},
	}, {
		name: "body bytes",
		opts: eventgen.Options{BodyBytes: 4096, OptionalRate: 0.5},
		lt:   "user_action",
		check: func(t *testing.T, evs []eventgen.Event) {
			for i, ev := range evs {
				if len(ev.Body) != 4096 {
					t.Errorf("event %d body is %d bytes, want 4096", i, len(ev.Body))
				}
				var body struct{ Attributes struct{ Pad string } }
				if err := json.Unmarshal(ev.Body, &body); err != nil || body.Attributes.Pad == "" {
					t.Errorf("event %d: no attributes.pad (%v)", i, err)
				}
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGen(t, reg, tt.opts)
			evs := make([]eventgen.Event, 600)
			for i := range evs {
				evs[i] = event(t, g, tt.lt, i)
				checkValid(t, reg, evs[i])
			}
			tt.check(t, evs)
		})
	}
}

// TestUserSessions checks the realism the reports rely on: each session is
// one user on one channel, and its cart amounts add up.
func TestUserSessions(t *testing.T) {
	g := newGen(t, schema.MustLoad(), eventgen.Options{Seed: 3, OptionalRate: 1, Actors: 20})
	actions := map[string]int{}
	users := map[any]bool{}
	for s := range 200 {
		var session []eventgen.Event
		for i := s * eventgen.SessionLen; i < (s+1)*eventgen.SessionLen; i++ {
			session = append(session, event(t, g, "user_action", i))
		}
		var added, removed int64
		for _, ev := range session {
			f := ev.Fields
			actions[f["action"].(string)]++
			users[f["user_id"]] = true
			for _, k := range []string{"user_id", "session_id", "channel", "source"} {
				if f[k] != session[0].Fields[k] {
					t.Fatalf("session %d: %s changes from %v to %v", s, k, session[0].Fields[k], f[k])
				}
			}
			switch f["action"] {
			case "added_to_cart":
				added += f["amount_cents"].(int64)
			case "removed_from_cart":
				removed += f["amount_cents"].(int64)
			case "cart_confirmed", "order_placed", "payment_failed":
				if removed > 0 || f["amount_cents"] != added {
					t.Errorf("session %d: %s of %v after adding %d and removing %d", s, f["action"], f["amount_cents"], added, removed)
				}
			}
		}
	}
	def, _ := schema.MustLoad().Latest("user_action")
	action, _ := def.Field("action")
	for _, a := range action.Enum {
		if actions[a] == 0 {
			t.Errorf("no %s in 1200 events: %v", a, actions)
		}
	}
	if len(users) > 20 {
		t.Errorf("%d users, want at most 20", len(users))
	}
}

// Example shows the events of a seed: valid bodies for the producer, and
// their fields for whoever checks what the pipeline made of them.
func Example() {
	g, err := eventgen.New(schema.MustLoad(), eventgen.Options{Seed: 1, Start: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC), Step: time.Minute, OptionalRate: 0.8})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 3 {
		ev, err := g.Event("user_action", i)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(ev.EventID == eventgen.EventID(1, i), ev.OccurredAt.Format(time.Kitchen), ev.Fields["action"])
	}
	// Output:
	// true 9:00AM product_searched
	// true 9:01AM product_viewed
	// true 9:02AM added_to_cart
}
