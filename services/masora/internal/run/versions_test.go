package run_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"google.golang.org/api/iterator"

	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
)

// TestRunLoadsSchemaVersionsTogether proves schema evolution end to end:
// parquet files written with user_action v1 (no app_version column) and
// with v2, in the same hour, load in one chunk (one query, one
// transaction), v1 rows with a null app_version; and no external table
// Masora creates lists files of two versions, each has its version's
// schema (invariant 7: BigQuery is not known to read a file lacking a
// column of its table's schema as NULL).
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
	versionOf := map[string]int{} // by gs:// URI
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
		name := masoratest.ObjectName("user_action", version, msgs)
		s.Put(t, name, masoratest.ParquetVersion(t, lt, msgs))
		versionOf["gs://"+s.Bucket+"/"+name] = version
	}
	write(1, "", 6)
	write(2, "4.2.0", 5)
	write(1, "", 3)
	write(2, "4.3.0", 2)

	outs, err := r.Run(t.Context(), run.Request{Trigger: run.TriggerSchedule, LogType: "user_action"})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || outs[0].Status != "succeeded" || outs[0].RowsLoaded != 16 || outs[0].ChunksLoaded != 1 {
		t.Fatalf("run: %+v, want one succeeded chunk of 16 rows", outs)
	}
	checkOneVersionPerTable(t, s, versionOf)
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

// checkOneVersionPerTable checks every external table in the test's
// dataset (the runner keeps them): its files are all of one version, per
// versionOf (by URI), its schema is that version's, and every file of
// versionOf is in some table.
func checkOneVersionPerTable(t *testing.T, s *masoratest.Stack, versionOf map[string]int) {
	t.Helper()
	seen := map[string]bool{}
	it := s.BigQuery.Dataset(s.Dataset).Tables(t.Context())
	for {
		tbl, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		meta, err := tbl.Metadata(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if meta.ExternalDataConfig == nil {
			continue
		}
		versions := map[int]bool{}
		for _, u := range meta.ExternalDataConfig.SourceURIs {
			versions[versionOf[u]] = true
			seen[u] = true
		}
		if len(versions) != 1 {
			t.Errorf("external table %s lists files of versions %v: %v", tbl.TableID, versions, meta.ExternalDataConfig.SourceURIs)
			continue
		}
		for v := range versions {
			lts, err := s.Registry.Versions("user_action")
			if err != nil {
				t.Fatal(err)
			}
			var want, got []string
			for _, c := range lts[v-1].Columns() {
				want = append(want, c.Name)
			}
			sch := meta.ExternalDataConfig.Schema
			if len(sch) == 0 {
				sch = meta.Schema
			}
			for _, f := range sch {
				got = append(got, f.Name)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("external table %s over v%d files: schema (-want +got):\n%s", tbl.TableID, v, diff)
			}
		}
	}
	for u := range versionOf {
		if !seen[u] {
			t.Errorf("%s is in no external table", u)
		}
	}
}
