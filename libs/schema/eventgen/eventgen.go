// Package eventgen generates realistic, valid events of any log type from its
// definition in the schema registry, for tests, benchmarks and the demo. The
// i-th event of a generator depends only on the options and i, so callers
// can ask for any event in any order (or concurrently) and get the same
// bytes every time.
//
// Every field comes from the definition: required fields always, optional
// ones with a configurable probability, enum values from the enum, strings
// within max_length, numbers within min and max. Log types the package knows
// (user_action, seller_action) are also coherent the way reports need them:
// events come in sessions of one user or seller drawn from a small pool (so
// hourly distinct counts mean something), and a customer session goes from
// search to cart to order or cancellation.
package eventgen

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ore-masora/pipeline/libs/schema"
)

// Options configure a generator. The zero value gives events with only their
// required fields, one second apart from DefaultStart, all in UTC.
type Options struct {
	// Seed selects the stream; the same seed gives the same events.
	Seed uint64
	// Start is the occurred_at of event 0; zero means DefaultStart.
	Start time.Time
	// Step is the time between event i and event i+1; zero means a second.
	Step time.Duration
	// OptionalRate is the probability, in [0, 1], that an optional field
	// that makes sense for the event is present.
	OptionalRate float64
	// Actors is the number of distinct values of each log type's
	// hourly_summary.distinct field (users, sellers); zero means 100.
	Actors int
	// Zones writes occurred_at with a mix of UTC offsets (the same instant),
	// as producers in other time zones send it.
	Zones bool
	// BodyBytes, when positive, pads every body to exactly this many bytes
	// with a "pad" member of its first json field (attributes), for size
	// tests. It may exceed schema.MaxBodyBytes.
	BodyBytes int
}

// DefaultStart is the occurred_at of event 0 when Options.Start is zero.
var DefaultStart = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// Event is one generated event of the newest version of its log type.
type Event struct {
	LogType    string
	EventID    string
	OccurredAt time.Time
	// Fields holds the body's fields: string, int64, float64, bool,
	// time.Time for timestamps and map[string]any for json fields.
	Fields map[string]any
	// Body is Fields as a JSON object, valid for the log type.
	Body []byte
}

// Gen generates events. It is immutable and safe for concurrent use.
type Gen struct {
	opts  Options
	types map[string]*logType
}

// logType is what the generator precomputes for one log type.
type logType struct {
	def  *schema.LogType
	salt uint64 // mixed into the seed so log types draw different streams
	prof *profile
	pad  string // the json field that takes the padding, "" if none
}

// New returns a generator for the newest version of every log type in reg.
func New(reg *schema.Registry, opts Options) (*Gen, error) {
	switch {
	case reg == nil:
		return nil, errors.New("eventgen: a schema registry is required")
	case opts.OptionalRate < 0 || opts.OptionalRate > 1 || math.IsNaN(opts.OptionalRate):
		return nil, fmt.Errorf("eventgen: OptionalRate is %v; it is a probability, from 0 to 1", opts.OptionalRate)
	case opts.Step < 0:
		return nil, fmt.Errorf("eventgen: Step is %v; it must not be negative", opts.Step)
	case opts.Actors < 0:
		return nil, fmt.Errorf("eventgen: Actors is %d; it must not be negative", opts.Actors)
	case opts.BodyBytes < 0:
		return nil, fmt.Errorf("eventgen: BodyBytes is %d; it must not be negative", opts.BodyBytes)
	}
	if opts.Start.IsZero() {
		opts.Start = DefaultStart
	}
	if opts.Step == 0 {
		opts.Step = time.Second
	}
	if opts.Actors == 0 {
		opts.Actors = 100
	}
	g := &Gen{opts: opts, types: map[string]*logType{}}
	for _, name := range reg.Names() {
		def, err := reg.Latest(name)
		if err != nil {
			return nil, err
		}
		h := fnv.New64a()
		h.Write([]byte(name))
		lt := &logType{def: def, salt: h.Sum64(), prof: profiles[name]}
		for _, f := range def.Fields {
			if f.Type == schema.TypeJSON {
				lt.pad = f.Name
				break
			}
		}
		g.types[name] = lt
	}
	return g, nil
}

// SessionLen is the number of consecutive events (by index) that make one
// session of one actor.
const SessionLen = 6

// EventID returns the event_id of event i of the generators with this seed:
// a random-looking version 4 UUID, different for every i. Events of
// different log types with the same index share it, so callers that mix
// log types give each event its own index.
func EventID(seed uint64, i int) string {
	const golden = 0x9e3779b97f4a7c15
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], mix(seed+(uint64(i)+1)*golden))
	// An odd multiplier makes this a bijection of i's low 62 bits.
	binary.BigEndian.PutUint64(b[8:], uint64(i)*golden+mix(^seed))
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant over the low 62 bits
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// mix is splitmix64's finalizer.
func mix(x uint64) uint64 {
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// zones are the UTC offsets of Options.Zones.
var zones = []int{0, 3600, -5 * 3600, 5*3600 + 1800, 9 * 3600}

// Event returns event i (i >= 0) of the named log type. Its event_id is
// EventID(seed, i) and its occurred_at Start + i*Step, truncated to the
// microsecond the pipeline stores.
func (g *Gen) Event(logType string, i int) (Event, error) {
	lt, ok := g.types[logType]
	if !ok {
		return Event{}, fmt.Errorf("eventgen: %w %q", schema.ErrUnknownLogType, logType)
	}
	if i < 0 {
		return Event{}, fmt.Errorf("eventgen: event index %d is negative", i)
	}
	seed := g.opts.Seed ^ lt.salt
	d := &draw{
		def:    lt.def,
		i:      i,
		pos:    i % SessionLen,
		actors: g.opts.Actors,
		ev:     rand.New(rand.NewPCG(seed, uint64(i))),
		sess:   rand.New(rand.NewPCG(mix(seed), uint64(i/SessionLen))),
	}
	at := g.opts.Start.Add(time.Duration(i) * g.opts.Step).Truncate(time.Microsecond)
	if g.opts.Zones {
		at = at.In(time.FixedZone("", zones[d.ev.IntN(len(zones))]))
	}
	ev := Event{LogType: logType, EventID: EventID(g.opts.Seed, i), OccurredAt: at, Fields: map[string]any{}}
	var realistic map[string]any
	if lt.prof != nil {
		realistic = lt.prof.values(d)
	}
	for _, f := range lt.def.Fields {
		switch f.Name {
		case schema.FieldEventID:
			ev.Fields[f.Name] = ev.EventID
			continue
		case schema.FieldOccurredAt:
			ev.Fields[f.Name] = at
			continue
		}
		v, set := realistic[f.Name]
		switch {
		case !f.Required && (!set && lt.prof.knows(f.Name) || d.ev.Float64() >= g.opts.OptionalRate):
			// Irrelevant to this event, or left out.
		case set:
			ev.Fields[f.Name] = v
		default:
			ev.Fields[f.Name] = d.value(f, at)
		}
	}
	var err error
	if ev.Body, err = json.Marshal(ev.Fields); err != nil {
		return Event{}, fmt.Errorf("eventgen: marshal %s event %d: %w", logType, i, err)
	}
	if g.opts.BodyBytes > 0 {
		if err := lt.padTo(&ev, g.opts.BodyBytes); err != nil {
			return Event{}, fmt.Errorf("eventgen: %s event %d: %w", logType, i, err)
		}
	}
	return ev, nil
}

// padTo adds a "pad" member to the event's json field so that its body is
// exactly size bytes.
func (lt *logType) padTo(ev *Event, size int) error {
	if lt.pad == "" {
		return fmt.Errorf("cannot pad to %d bytes: the log type has no json field", size)
	}
	obj := map[string]any{}
	if a, ok := ev.Fields[lt.pad].(map[string]any); ok {
		for k, v := range a {
			obj[k] = v
		}
	}
	obj["pad"] = ""
	ev.Fields[lt.pad] = obj
	body, err := json.Marshal(ev.Fields)
	if err != nil {
		return err
	}
	if len(body) > size {
		return fmt.Errorf("the body is %d bytes without padding, over Options.BodyBytes %d", len(body), size)
	}
	obj["pad"] = strings.Repeat("x", size-len(body))
	ev.Body, err = json.Marshal(ev.Fields)
	return err
}

// draw holds the random sources of one event.
type draw struct {
	def    *schema.LogType
	i      int
	pos    int        // position in the session, 0 to SessionLen-1
	actors int        // Options.Actors
	ev     *rand.Rand // this event's draws
	sess   *rand.Rand // its session's draws: the same for SessionLen events
}

// actor returns the session's value of the log type's distinct field, e.g.
// user-0042 for user_id.
func (d *draw) actor(field string) string {
	return fmt.Sprintf("%s-%04d", strings.TrimSuffix(field, "_id"), d.sess.IntN(d.actors))
}

// value generates a value for a field from its definition alone.
func (d *draw) value(f schema.Field, at time.Time) any {
	switch f.Type {
	case schema.TypeUUID:
		var b [16]byte
		binary.LittleEndian.PutUint64(b[:8], d.ev.Uint64())
		binary.LittleEndian.PutUint64(b[8:], d.ev.Uint64())
		b[6] = b[6]&0x0f | 0x40
		b[8] = b[8]&0x3f | 0x80
		h := hex.EncodeToString(b[:])
		return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	case schema.TypeTimestamp:
		return at.Add(-time.Duration(d.ev.Int64N(int64(time.Hour)))).Truncate(time.Microsecond)
	case schema.TypeInt64:
		lo, hi := bounds(f, 9e18) // within int64
		l, h := int64(math.Ceil(lo)), int64(math.Floor(hi))
		return int64(uint64(l) + d.ev.Uint64N(uint64(max(h, l))-uint64(l)+1))
	case schema.TypeFloat64:
		lo, hi := bounds(f, math.MaxFloat64)
		u := d.ev.Float64()
		return min(hi, max(lo, lo*(1-u)+hi*u)) // no overflow, unlike lo+u*(hi-lo)
	case schema.TypeBool:
		return d.ev.IntN(2) == 1
	case schema.TypeJSON:
		return map[string]any{"tag": fmt.Sprintf("tag-%d", d.ev.IntN(10)), "score": int64(d.ev.IntN(100))}
	}
	var s string
	switch {
	case len(f.Enum) > 0:
		return f.Enum[d.ev.IntN(len(f.Enum))]
	case f.Name == d.def.Summary.Distinct:
		s = d.actor(f.Name)
	case strings.HasSuffix(f.Name, "_id"):
		s = fmt.Sprintf("%s-%06d", strings.TrimSuffix(f.Name, "_id"), d.ev.IntN(1_000_000))
	default:
		// A few values per field, like categories.
		s = fmt.Sprintf("%s-%d", f.Name, d.ev.IntN(10))
	}
	if f.MaxLength > 0 && len(s) > f.MaxLength {
		s = s[len(s)-f.MaxLength:] // keep the distinguishing digits
	}
	return s
}

// bounds returns the range of a numeric field: its min and max, or a range
// of 1000 next to the one that is set (from 0 if neither), within ±limit.
func bounds(f schema.Field, limit float64) (lo, hi float64) {
	lo, hi = 0, 1000
	switch {
	case f.Min != nil && f.Max != nil:
		lo, hi = *f.Min, *f.Max
	case f.Min != nil:
		lo, hi = *f.Min, *f.Min+1000
	case f.Max != nil:
		lo, hi = *f.Max-1000, *f.Max
	}
	lo = max(-limit, min(limit, lo))
	return lo, max(lo, min(limit, hi))
}
