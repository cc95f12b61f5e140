package run_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
)

// TestRunLoadsSchemaVersionsTogether proves schema evolution end to end: a
// parquet file written with user_action v1 (no app_version column) and one
// written with v2 go through one BigQuery external table and one chunk, and
// both load, v1 rows with a null app_version.
func TestRunLoadsSchemaVersionsTogether(t *testing.T) {
	s := masoratest.New(t)
	r, _ := newRunner(t, s, s.Pool, 10) // both files in one chunk
	versions, err := s.Registry.Versions("user_action")
	if err != nil {
		t.Fatal(err)
	}
	if len(versions) < 2 {
		t.Fatalf("user_action has %d versions; this test needs v1 and v2", len(versions))
	}
	v1, v2 := versions[0], versions[1]
	if _, ok := v1.Field("app_version"); ok {
		t.Fatal("user_action v1 has app_version; the test assumes v2 added it")
	}

	at := now.Add(-time.Hour)
	want := map[string]*string{}
	write := func(version int, appVersion string, n int) {
		lt := v1
		if version == 2 {
			lt = v2
		}
		var msgs []masoratest.Message
		for i := range n {
			id := uuid.New()
			extra := ""
			if appVersion != "" {
				extra = fmt.Sprintf(`,"app_version":%q`, appVersion)
			}
			body := fmt.Sprintf(`{"event_id":%q,"occurred_at":%q,"source":"mobile-api","action":"product_viewed","channel":"app","user_id":"u%d"%s}`,
				id, at.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339Nano), i, extra)
			msgs = append(msgs, masoratest.Message{ID: uuid.NewString(), Body: []byte(body), ReceivedAt: at})
			if appVersion != "" {
				v := appVersion
				want[id.String()] = &v
			} else {
				want[id.String()] = nil
			}
		}
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		s.Put(t, layout.DataPath(masoratest.Prefix, "user_action", at, layout.Name(ids)), masoratest.ParquetVersion(t, lt, msgs))
	}
	write(1, "", 6)
	write(2, "4.2.0", 5)

	outs, err := r.Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || outs[0].Status != "succeeded" || outs[0].RowsLoaded != 11 || outs[0].ChunksLoaded != 1 {
		t.Fatalf("run: %+v, want one succeeded chunk of 11 rows", outs)
	}
	rows, err := s.Pool.Query(t.Context(), `SELECT event_id::text, app_version FROM user_actions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]*string{}
	for rows.Next() {
		var id string
		var app *string
		if err := rows.Scan(&id, &app); err != nil {
			t.Fatal(err)
		}
		got[id] = app
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("app_version per event (-want +got):\n%s", diff)
	}
	checkSummaries(t, s)
}
