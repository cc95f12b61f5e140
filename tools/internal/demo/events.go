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

	"github.com/ore-masora/pipeline/libs/schema"
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

var (
	channels = []string{"web", "app", "whatsapp"}
	statuses = []string{"created", "packed", "shipped", "in_transit", "delivered"}
	sources  = map[string]string{"web": "web-frontend", "app": "mobile-api", "whatsapp": "whatsapp-bot"}
)

// Generate builds a stream of about opts.Events valid events: customer
// sessions (views, carts confirmed or cancelled, orders, many over WhatsApp)
// and seller dashboard actions, plus 2% duplicates and one of each kind of
// bad message.
func Generate(reg *schema.Registry, opts GenerateOptions) (*Plan, error) {
	if opts.Events < 10 {
		return nil, fmt.Errorf("demo: at least 10 events are needed, got %d", opts.Events)
	}
	g := &generator{
		rng:  rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		now:  opts.Now.UTC(),
		plan: &Plan{Rows: map[string]int{}, Summary: map[string]map[HourKey]HourCount{}},
	}
	users := max(opts.Events/20, 5)
	sellers := max(opts.Events/200, 3)
	for len(g.plan.Valid) < opts.Events {
		if g.rng.IntN(5) == 0 {
			g.sellerAction(fmt.Sprintf("s-%03d", g.rng.IntN(sellers)))
		} else {
			g.userSession(fmt.Sprintf("u-%04d", g.rng.IntN(users)), opts.Events-len(g.plan.Valid))
		}
	}
	for i := 0; i < max(len(g.plan.Valid)/50, 1); i++ {
		g.plan.Duplicates = append(g.plan.Duplicates, g.plan.Valid[g.rng.IntN(len(g.plan.Valid))])
	}
	g.badMessages()
	if err := g.expect(reg); err != nil {
		return nil, err
	}
	return g.plan, nil
}

type generator struct {
	rng  *rand.Rand
	now  time.Time
	plan *Plan
}

func (g *generator) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// at returns a time in the 6 hours before now, with microseconds and a
// non-UTC offset, as producers in other time zones send it.
func (g *generator) at() time.Time {
	t := g.now.Add(-time.Duration(g.rng.Int64N(int64(6 * time.Hour)))).Truncate(time.Microsecond)
	zone := time.FixedZone("", []int{0, 3600, -5 * 3600, 5*3600 + 1800}[g.rng.IntN(4)])
	return t.In(zone)
}

func (g *generator) add(logType string, fields map[string]any) {
	id := g.uuid()
	fields["event_id"] = id
	body, err := json.Marshal(fields)
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	g.plan.Valid = append(g.plan.Valid, Message{LogType: logType, Body: body, EventID: id})
}

// userSession appends one customer session of at most limit events.
func (g *generator) userSession(user string, limit int) {
	channel := channels[g.rng.IntN(len(channels))]
	session := "sess-" + g.uuid()[:8]
	t := g.at()
	base := func(action string) map[string]any {
		t = t.Add(time.Duration(g.rng.IntN(90)+5) * time.Second)
		m := map[string]any{
			"occurred_at": t.Format(time.RFC3339Nano), "source": sources[channel],
			"action": action, "channel": channel, "user_id": user, "session_id": session,
		}
		if channel == "app" {
			m["app_version"] = fmt.Sprintf("4.%d.%d", g.rng.IntN(3), g.rng.IntN(10))
		}
		return m
	}
	steps := 0
	emit := func(m map[string]any) bool {
		if steps >= limit {
			return false
		}
		steps++
		g.add("user_action", m)
		return true
	}
	cart := "cart-" + g.uuid()[:8]
	total := int64(0)
	for i := 0; i < 1+g.rng.IntN(3); i++ {
		product := fmt.Sprintf("p-%03d", g.rng.IntN(300))
		v := base("product_viewed")
		v["product_id"] = product
		v["attributes"] = map[string]any{"referrer": []string{"search", "home", "campaign"}[g.rng.IntN(3)]}
		if !emit(v) {
			return
		}
		if g.rng.IntN(2) == 0 {
			qty := int64(1 + g.rng.IntN(3))
			price := int64(199 + g.rng.IntN(5000))
			total += qty * price
			a := base("added_to_cart")
			a["product_id"], a["cart_id"], a["quantity"] = product, cart, qty
			a["amount_cents"], a["currency"] = qty*price, "EUR"
			if !emit(a) {
				return
			}
		}
	}
	if total == 0 {
		return
	}
	// WhatsApp carts are confirmed or cancelled in the conversation; others
	// mostly go on to checkout.
	if g.rng.IntN(10) < 6 {
		c := base("cart_confirmed")
		c["cart_id"], c["amount_cents"], c["currency"] = cart, total, "EUR"
		if !emit(c) {
			return
		}
		o := base("order_placed")
		o["cart_id"], o["order_id"], o["amount_cents"], o["currency"] = cart, "o-"+g.uuid()[:8], total, "EUR"
		emit(o)
	} else {
		c := base("cart_cancelled")
		c["cart_id"] = cart
		c["attributes"] = map[string]any{"reason": []string{"too_expensive", "changed_mind", "delivery_time"}[g.rng.IntN(3)]}
		emit(c)
	}
}

func (g *generator) sellerAction(seller string) {
	m := map[string]any{"occurred_at": g.at().Format(time.RFC3339Nano), "source": "seller-dashboard", "seller_id": seller}
	switch g.rng.IntN(4) {
	case 0:
		i := g.rng.IntN(len(statuses) - 1)
		m["action"], m["package_id"], m["old_status"], m["new_status"] = "package_status_updated", "pkg-"+g.uuid()[:8], statuses[i], statuses[i+1]
	case 1:
		m["action"], m["product_id"] = "product_updated", fmt.Sprintf("p-%03d", g.rng.IntN(300))
		m["attributes"] = map[string]any{"changed": []string{"price", "title"}}
	case 2:
		m["action"], m["product_id"], m["stock"] = "stock_updated", fmt.Sprintf("p-%03d", g.rng.IntN(300)), g.rng.IntN(500)
	default:
		m["action"], m["order_id"] = "order_accepted", "o-"+g.uuid()[:8]
	}
	g.add("seller_action", m)
}

// badMessages appends one message of each kind Ore must quarantine.
func (g *generator) badMessages() {
	valid := func() map[string]any {
		return map[string]any{
			"event_id": g.uuid(), "occurred_at": g.at().Format(time.RFC3339Nano), "source": "web-frontend",
			"action": "product_viewed", "channel": "web", "user_id": "u-bad",
		}
	}
	body := func(m map[string]any) []byte {
		b, _ := json.Marshal(m)
		return b
	}
	missing := valid()
	delete(missing, "user_id")
	wrongType := valid()
	wrongType["quantity"] = "two"
	badEnum := valid()
	badEnum["channel"] = "fax"
	oversize := valid()
	oversize["attributes"] = map[string]any{"blob": strings.Repeat("x", schema.MaxBodyBytes)}
	g.plan.Bad = append(g.plan.Bad,
		Message{LogType: "user_action", Body: []byte(`{"event_id": "truncated`), Bad: "not JSON"},
		Message{LogType: "user_action", Body: []byte(`["not", "an", "object"]`), Bad: "not a JSON object"},
		Message{LogType: "user_action", Body: body(missing), EventID: missing["event_id"].(string), Bad: "missing required field user_id"},
		Message{LogType: "user_action", Body: body(wrongType), EventID: wrongType["event_id"].(string), Bad: "quantity is not an integer"},
		Message{LogType: "user_action", Body: body(badEnum), EventID: badEnum["event_id"].(string), Bad: "unknown channel"},
		Message{LogType: "page_view", Body: body(valid()), Bad: "unknown log type page_view"},
		Message{LogType: "user_action", Body: body(oversize), EventID: oversize["event_id"].(string), Bad: "over the size limit"},
	)
}

// expect computes the rows and hourly summaries the valid events must give,
// decoding them with the shared definitions.
func (g *generator) expect(reg *schema.Registry) error {
	distinct := map[string]map[HourKey]map[string]bool{}
	for _, m := range g.plan.Valid {
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
		if g.plan.Summary[m.LogType] == nil {
			g.plan.Summary[m.LogType] = map[HourKey]HourCount{}
			distinct[m.LogType] = map[HourKey]map[string]bool{}
		}
		c := g.plan.Summary[m.LogType][key]
		c.Events++
		if distinct[m.LogType][key] == nil {
			distinct[m.LogType][key] = map[string]bool{}
		}
		who := get(lt.Summary.Distinct).Str
		if !distinct[m.LogType][key][who] {
			distinct[m.LogType][key][who] = true
			c.Distinct++
		}
		g.plan.Summary[m.LogType][key] = c
		g.plan.Rows[m.LogType]++
	}
	return nil
}
