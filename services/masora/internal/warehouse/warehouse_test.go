package warehouse_test

import (
	"errors"
	"io"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/api/option"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/schemas"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

func transforms(t testing.TB) fs.FS {
	t.Helper()
	sub, err := fs.Sub(schemas.LogTypes, "logtypes")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func readAll(t *testing.T, res *warehouse.Result) [][]bigquery.Value {
	t.Helper()
	rows, err := res.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return drain(t, rows)
}

// drain reads every row of rows.
func drain(t testing.TB, rows *warehouse.Rows) [][]bigquery.Value {
	t.Helper()
	var out [][]bigquery.Value
	for {
		var row []bigquery.Value
		err := rows.Next(&row)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, row)
	}
}

// TestTransform runs the user_action transform over two objects that share
// a duplicated event and checks every value of the result and that the
// external table is gone afterwards (the one test that deletes a table in
// the emulator; the others keep theirs).
func TestTransform(t *testing.T) {
	s := masoratest.New(t)
	w, err := warehouse.New(s.BigQuery, s.Registry, transforms(t), warehouse.Options{Dataset: s.Dataset, CallTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	hour := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	a := masoratest.UserAction{EventID: uuid.New(), OccurredAt: hour.Add(90 * time.Second), Action: "added_to_cart", Channel: "app", UserID: "u1"}
	b := masoratest.UserAction{EventID: uuid.New(), OccurredAt: hour.Add(-time.Hour), Action: "order_placed", Channel: "web", UserID: "u2"}
	first := a.Message(hour.Add(5 * time.Minute))
	redelivered := a.Message(hour.Add(65 * time.Minute)) // the same event again, an hour later
	obj1 := s.WriteObject(t, "user_action", []masoratest.Message{first, b.Message(hour.Add(6 * time.Minute))})
	obj2 := s.WriteObject(t, "user_action", []masoratest.Message{redelivered})

	res, err := w.Transform(t.Context(), "user_action", "t", []warehouse.Source{{Version: 2, URIs: []string{"gs://" + s.Bucket + "/" + obj1, "gs://" + s.Bucket + "/" + obj2}}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]bigquery.Value{}
	for _, row := range readAll(t, res) {
		got[row[0].(string)] = row
	}
	row := func(u masoratest.UserAction, m masoratest.Message) []bigquery.Value {
		return []bigquery.Value{
			u.EventID.String(), u.OccurredAt, "web-frontend", u.Action, u.Channel, u.UserID,
			nil, nil, nil, nil, int64(2), nil, nil, nil, `{"ab":"b"}`, `{"unknown_field":1}`,
			m.ID, m.ReceivedAt, "masoratest",
		}
	}
	want := map[string][]bigquery.Value{
		a.EventID.String(): row(a, first), // the first received copy wins
		b.EventID.String(): row(b, masoratest.Message{}),
	}
	want[b.EventID.String()][16] = got[b.EventID.String()][16] // b's message id is random
	want[b.EventID.String()][17] = hour.Add(6 * time.Minute)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transform result mismatch (-want +got):\n%s", diff)
	}

	// The result can be read again (the loader's slow path does).
	if n := len(readAll(t, res)); n != 2 {
		t.Errorf("second read: %d rows, want 2", n)
	}
	it := s.BigQuery.Dataset(s.Dataset).Tables(t.Context())
	if tbl, err := it.Next(); err == nil {
		t.Errorf("external table %s left behind in %s", tbl.TableID, s.Dataset)
	}

	// With KeepTables the table stays, to expire.
	if _, err := s.Warehouse(t).Transform(t.Context(), "user_action", "keep", []warehouse.Source{{Version: 2, URIs: []string{"gs://" + s.Bucket + "/" + obj1}}}); err != nil {
		t.Fatal(err)
	}
	tbl, err := s.BigQuery.Dataset(s.Dataset).Tables(t.Context()).Next()
	if err != nil {
		t.Fatalf("no table kept: %v", err)
	}
	meta, err := tbl.Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if meta.ExternalDataConfig == nil || len(meta.ExternalDataConfig.SourceURIs) != 1 {
		t.Errorf("kept table %s: external config %+v, want one source URI", tbl.TableID, meta.ExternalDataConfig)
	}
}

func TestTransformMissingObject(t *testing.T) {
	s := masoratest.New(t)
	w := s.Warehouse(t)
	missing := "gs://" + s.Bucket + "/logs/user_action/dt=2024-05-01/hour=10/00000000000000000000000000000000.v2.parquet"
	_, err := w.Transform(t.Context(), "user_action", "t", []warehouse.Source{{Version: 2, URIs: []string{missing}}})
	var named *fault.BadObjectsError
	if !errors.As(err, &named) {
		t.Fatalf("Transform over a missing object: %v, want a %T", err, named)
	}
	if diff := cmp.Diff([]string{missing}, named.URIs); diff != "" {
		t.Errorf("objects blamed (-want +got):\n%s", diff)
	}
}

func TestNewChecksTransforms(t *testing.T) {
	reg := schema.MustLoad()
	bq, err := bigquery.NewClient(t.Context(), "local-project", option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	good := "SELECT * FROM {{source_table}}"
	tests := []struct {
		name  string
		files fstest.MapFS
		opts  warehouse.Options
		ok    bool
	}{
		{name: "good", files: fstest.MapFS{
			"user_action/transform.sql":   {Data: []byte(good)},
			"seller_action/transform.sql": {Data: []byte(good)},
		}, opts: warehouse.Options{Dataset: "d", CallTimeout: time.Second}, ok: true},
		{name: "missing transform", files: fstest.MapFS{
			"user_action/transform.sql": {Data: []byte(good)},
		}, opts: warehouse.Options{Dataset: "d", CallTimeout: time.Second}},
		{name: "no placeholder", files: fstest.MapFS{
			"user_action/transform.sql":   {Data: []byte(good)},
			"seller_action/transform.sql": {Data: []byte("SELECT * FROM t")},
		}, opts: warehouse.Options{Dataset: "d", CallTimeout: time.Second}},
		{name: "two placeholders", files: fstest.MapFS{
			"user_action/transform.sql":   {Data: []byte(good + " UNION ALL " + good)},
			"seller_action/transform.sql": {Data: []byte(good)},
		}, opts: warehouse.Options{Dataset: "d", CallTimeout: time.Second}},
		{name: "dataset with a backquote", files: fstest.MapFS{
			"user_action/transform.sql":   {Data: []byte(good)},
			"seller_action/transform.sql": {Data: []byte(good)},
		}, opts: warehouse.Options{Dataset: "d`; DROP", CallTimeout: time.Second}},
		{name: "no timeout", files: fstest.MapFS{
			"user_action/transform.sql":   {Data: []byte(good)},
			"seller_action/transform.sql": {Data: []byte(good)},
		}, opts: warehouse.Options{Dataset: "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := warehouse.New(bq, reg, tt.files, tt.opts)
			if (err == nil) != tt.ok {
				t.Errorf("New: %v, want success %v", err, tt.ok)
			}
		})
	}
}
