package loader_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"io"
	"strconv"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/ore-masora/pipeline/services/masora/internal/loader"
)

// genBase is the first occurred_at of generated rows.
var genBase = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// userActions generates transform-result rows of user_action (its latest
// version's 19 columns) as the BigQuery row iterator yields them: strings,
// time.Time, int64 and nil. Row i has event id eventID(seed, i) and occurs
// at genBase + i*step, so rows of the same seed and index are duplicates.
type userActions struct {
	seed  uint64
	from  int // first row index
	n     int // rows
	step  time.Duration
	i     int
	users []string
	// mutate, when set, changes row i after it is generated.
	mutate func(i int, row []bigquery.Value)
}

var (
	actions  = []string{"product_viewed", "product_searched", "added_to_cart", "removed_from_cart", "cart_confirmed", "cart_cancelled", "order_placed", "payment_failed"}
	channels = []string{"web", "app", "whatsapp"}
)

func newUserActions(seed uint64, from, n int, step time.Duration) *userActions {
	users := make([]string, 5000)
	for i := range users {
		users[i] = "user-" + strconv.Itoa(i)
	}
	return &userActions{seed: seed, from: from, n: n, step: step, users: users}
}

// open returns the generator as a chunk's Open: each call starts over.
func (g *userActions) open(context.Context) (loader.Rows, error) {
	c := *g
	c.i = 0
	return &c, nil
}

func eventID(seed uint64, i int) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], seed)
	binary.BigEndian.PutUint64(b[8:], uint64(i))
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
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

const (
	genAttributes = `{"page":"/p/123","ab":"b"}`
	genSource     = "web-frontend"
	genWriter     = "ore-bench"
)

func (g *userActions) Next(dst *[]bigquery.Value) error {
	if g.i >= g.n {
		return io.EOF
	}
	i := g.from + g.i
	g.i++
	occurred := genBase.Add(time.Duration(i) * g.step)
	row := append((*dst)[:0],
		eventID(g.seed, i),          // event_id
		occurred,                    // occurred_at
		genSource,                   // source
		actions[i%len(actions)],     // action
		channels[i%len(channels)],   // channel
		g.users[i%len(g.users)],     // user_id
		nil,                         // session_id
		nil,                         // product_id
		nil,                         // cart_id
		nil,                         // order_id
		int64(i%7),                  // quantity
		nil,                         // amount_cents
		nil,                         // currency
		nil,                         // app_version
		genAttributes,               // attributes
		nil,                         // extra_fields
		eventID(g.seed^0xffff, i),   // message_id
		occurred.Add(2*time.Second), // received_at
		genWriter,                   // writer_version
	)
	if i%2 == 0 {
		row[6], row[7] = g.users[(i/2)%len(g.users)], "product-42" // session_id, product_id
		row[11], row[12] = int64(1999), "EUR"                      // amount_cents, currency
	}
	if g.mutate != nil {
		g.mutate(i, row)
	}
	*dst = row
	return nil
}
