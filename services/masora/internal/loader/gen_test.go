package loader_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
	"github.com/ore-masora/pipeline/services/masora/internal/loader"
)

// genBase is the first occurred_at of generated rows.
var genBase = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// genPool is the number of eventgen events whose field values the rows of
// one generator cycle through: whole sessions, and every action on every
// channel.
const genPool = 400 * eventgen.SessionLen

const (
	genReceivedAfter = 2 * time.Second
	genWriter        = "ore-bench"
)

// userActions generates transform-result rows of user_action (its latest
// version's columns) as the BigQuery row iterator yields them: strings,
// time.Time, int64 and nil. Row i has the field values of eventgen's event
// i mod genPool of the seed, converted once, with event id
// eventgen.EventID(seed, i) and occurred_at genBase + i*step; so rows of the
// same seed and index are duplicates, and a 1M-row benchmark does no JSON
// work per row.
type userActions struct {
	seed uint64
	from int // first row index
	n    int // rows
	step time.Duration
	i    int
	pool [][]bigquery.Value
	// mutate, when set, changes row i after it is generated.
	mutate func(i int, row []bigquery.Value)
}

// Column positions in a user_action row.
var (
	userAction                             = must(schema.MustLoad().Latest("user_action"))
	colEventID, colOccurredAt              = column(schema.FieldEventID), column(schema.FieldOccurredAt)
	colMessageID, colReceivedAt, colWriter = column(schema.ColMessageID), column(schema.ColReceivedAt), column(schema.ColWriterVersion)
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func column(name string) int {
	for i, c := range userAction.Columns() {
		if c.Name == name {
			return i
		}
	}
	panic("no column " + name)
}

func newUserActions(seed uint64, from, n int, step time.Duration) *userActions {
	gen := must(eventgen.New(schema.MustLoad(), eventgen.Options{Seed: seed, OptionalRate: 0.8, Actors: 5000}))
	cols := userAction.Columns()
	pool := make([][]bigquery.Value, genPool)
	for i := range pool {
		ev := must(gen.Event("user_action", i))
		row := make([]bigquery.Value, len(cols))
		for c, col := range cols {
			if col.Field < 0 {
				continue // lineage: set per row
			}
			switch v := ev.Fields[col.Name].(type) {
			case map[string]any:
				row[c] = string(must(json.Marshal(v)))
			case nil:
				// absent: NULL
			default:
				row[c] = v
			}
		}
		pool[i] = row
	}
	return &userActions{seed: seed, from: from, n: n, step: step, pool: pool}
}

// open returns the generator as a chunk's Open: each call starts over.
func (g *userActions) open(context.Context) (loader.Rows, error) {
	c := *g
	c.i = 0
	return &c, nil
}

// row returns row i as Next yields it.
func (g *userActions) row(i int) []bigquery.Value {
	row := make([]bigquery.Value, 0, len(g.pool[0]))
	g.fill(&row, i)
	return row
}

func (g *userActions) fill(dst *[]bigquery.Value, i int) {
	occurred := genBase.Add(time.Duration(i) * g.step)
	row := append((*dst)[:0], g.pool[i%len(g.pool)]...)
	row[colEventID] = eventgen.EventID(g.seed, i)
	row[colOccurredAt] = occurred
	row[colMessageID] = eventgen.EventID(g.seed^0xffff, i)
	row[colReceivedAt] = occurred.Add(genReceivedAfter)
	row[colWriter] = genWriter
	if g.mutate != nil {
		g.mutate(i, row)
	}
	*dst = row
}

func (g *userActions) Next(dst *[]bigquery.Value) error {
	if g.i >= g.n {
		return io.EOF
	}
	g.fill(dst, g.from+g.i)
	g.i++
	return nil
}

// hourlyPairs returns the number of distinct (hour, action, channel) of
// rows from to from+n-1: the rows of the hourly summary they make.
func (g *userActions) hourlyPairs(from, n int) int64 {
	action, channel := column("action"), column("channel")
	seen := map[string]bool{}
	for i := from; i < from+n; i++ {
		r := g.row(i)
		seen[fmt.Sprint(r[colOccurredAt].(time.Time).Truncate(time.Hour), r[action], r[channel])] = true
	}
	return int64(len(seen))
}
