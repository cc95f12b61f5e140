package warehouse_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/ore-masora/pipeline/libs/testkit/bqreadtest"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

// readPaths are two warehouses over one test's dataset: pages reads results
// with jobs.getQueryResults from the emulator; storage reads them through a
// bqreadtest Storage Read API server (Masora's production default), which
// serves the query's destination table from the emulator.
type readPaths struct {
	pages, storage *warehouse.Warehouse
	server         *bqreadtest.Server
}

func newReadPaths(t testing.TB, s *masoratest.Stack, streams int) *readPaths {
	t.Helper()
	srv := bqreadtest.New(t, bqreadtest.Options{Source: s.BigQuery, Streams: streams})
	bq := srv.Client(t, s.Env.BigQueryProject, s.Env.BigQueryEndpoint)
	// The emulator's queries are slow: a 20k-row chunk takes over 30s.
	opts := warehouse.Options{Dataset: s.Dataset, CallTimeout: 3 * time.Minute, KeepTables: true}
	storage, err := warehouse.New(bq, s.Registry, transforms(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := warehouse.New(s.BigQuery, s.Registry, transforms(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return &readPaths{pages: pages, storage: storage, server: srv}
}

// readRows reads a whole result, checking which path it came through.
func readRows(t testing.TB, res *warehouse.Result, wantStorage bool) [][]bigquery.Value {
	t.Helper()
	rows, err := res.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rows.StorageRead() != wantStorage {
		t.Fatalf("Rows.StorageRead() = %v, want %v (the client falls back to pages when it cannot start a read session)", rows.StorageRead(), wantStorage)
	}
	return drain(t, rows)
}

// variedUserActions returns n user_action messages whose values cover what
// the read paths must agree on: NULL and set optional columns, timestamps
// with microsecond digits, JSON text with nesting, escapes and non-ASCII,
// unknown fields (extra_fields), large integers.
func variedUserActions(n int, hour time.Time) []masoratest.Message {
	actions := []string{"product_viewed", "added_to_cart", "cart_confirmed", "order_placed", "payment_failed"}
	channels := []string{"web", "app", "whatsapp"}
	msgs := make([]masoratest.Message, n)
	for i := range msgs {
		ev := map[string]any{
			"event_id":    uuid.NewString(),
			"occurred_at": hour.Add(time.Duration(i)*1234567*time.Microsecond - time.Hour).Format(time.RFC3339Nano),
			"source":      "web-frontend",
			"action":      actions[i%len(actions)],
			"channel":     channels[i%len(channels)],
			"user_id":     fmt.Sprintf("u%d", i%97),
		}
		if i%2 == 0 {
			ev["session_id"] = fmt.Sprintf("s-%d", i)
		}
		if i%3 == 0 {
			ev["product_id"] = "p-ü-" + fmt.Sprint(i)
			ev["quantity"] = i % 100001
		}
		if i%5 == 0 {
			ev["amount_cents"] = int64(1)<<53 + int64(i) // beyond float64's exact integers
			ev["currency"] = "EUR"
		}
		if i%7 != 0 {
			ev["attributes"] = map[string]any{"ab": "b", "n": i, "nested": map[string]any{"q": `"quoted" \ 日本`, "l": []any{1, 2.5, nil, true}}}
		}
		if i%11 == 0 {
			ev["unknown_field"] = i
		}
		body, _ := json.Marshal(ev)
		msgs[i] = masoratest.Message{ID: uuid.NewString(), Body: body,
			ReceivedAt: hour.Add(time.Duration(i) * 7 * time.Microsecond)}
	}
	return msgs
}

// writeChunk writes msgs as user_action objects (its latest version) of per
// messages each and returns them as the chunk's one source.
func writeChunk(t testing.TB, s *masoratest.Stack, msgs []masoratest.Message, per int) []warehouse.Source {
	t.Helper()
	lt, err := s.Registry.Latest("user_action")
	if err != nil {
		t.Fatal(err)
	}
	src := warehouse.Source{Version: lt.Version}
	for i := 0; i < len(msgs); i += per {
		obj := s.WriteObject(t, "user_action", msgs[i:min(i+per, len(msgs))])
		src.URIs = append(src.URIs, "gs://"+s.Bucket+"/"+obj)
	}
	return []warehouse.Source{src}
}

func byEventID(rows [][]bigquery.Value) {
	sort.Slice(rows, func(i, j int) bool { return rows[i][0].(string) < rows[j][0].(string) })
}

// TestReadPathsAgree loads the same chunk through jobs.getQueryResults and
// through the Storage Read API (several streams) and compares every value,
// Go types included.
func TestReadPathsAgree(t *testing.T) {
	s := masoratest.New(t)
	const n, streams = 3000, 4
	p := newReadPaths(t, s, streams)
	uris := writeChunk(t, s, variedUserActions(n, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)), 1000)

	pagesRes, err := p.pages.Transform(t.Context(), "user_action", "pages", uris)
	if err != nil {
		t.Fatal(err)
	}
	storageRes, err := p.storage.Transform(t.Context(), "user_action", "storage", uris)
	if err != nil {
		t.Fatal(err)
	}
	pages := readRows(t, pagesRes, false)
	storage := readRows(t, storageRes, true)
	if len(pages) != n {
		t.Fatalf("pages path: %d rows, want %d", len(pages), n)
	}
	byEventID(pages)
	byEventID(storage)
	// cmp compares dynamic types too: int64 against int64, time.Time
	// against time.Time (with its location), string against string.
	if diff := cmp.Diff(pages, storage); diff != "" {
		t.Errorf("Storage Read API rows differ from jobs.getQueryResults rows (-pages +storage):\n%s", diff)
	}
	st := p.server.Stats()
	if st.Rows != n || st.Streams != streams || st.ReadRows != streams {
		t.Errorf("server stats %+v: want %d rows over %d streams", st, n, streams)
	}

	// Spot checks that the values are the interesting ones.
	var nulls, micros, jsonText int
	for _, row := range storage {
		if row[6] == nil {
			nulls++
		}
		if ts, ok := row[1].(time.Time); ok && ts.Nanosecond()%1_000_000 != 0 && ts.Location() == time.UTC {
			micros++
		}
		if s, ok := row[14].(string); ok && json.Valid([]byte(s)) {
			jsonText++
		}
	}
	if nulls == 0 || micros == 0 || jsonText == 0 {
		t.Errorf("storage rows: %d NULL session_ids, %d sub-millisecond UTC timestamps, %d JSON attributes; want some of each", nulls, micros, jsonText)
	}

	// A result is read again from the start (the loader's slow path).
	if again := readRows(t, storageRes, true); len(again) != n {
		t.Errorf("second Storage Read: %d rows, want %d", len(again), n)
	}
}
