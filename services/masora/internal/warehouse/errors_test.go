package warehouse_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/option"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

// The calls of a transform, as fakeBigQuery names them.
const (
	tablesInsert    = "tables.insert"
	jobsInsert      = "jobs.insert"
	getQueryResults = "jobs.getQueryResults"
	jobsGet         = "jobs.get"
)

// fakeBigQuery answers the BigQuery REST calls of Warehouse.Transform:
// success, except for the calls in fail, which get their answer. Answers
// are shaped as BigQuery's documented error responses
// (https://cloud.google.com/bigquery/docs/error-messages): an HTTP status
// and {"error": {"code", "message", "errors": [{"reason", "message"}]}}.
type fakeBigQuery struct {
	fail map[string]bqAnswer
	// jobError, if set, is the errorResult of the finished job (jobs.get).
	jobError map[string]string

	mu    sync.Mutex
	calls map[string]int
	// tables and queries are the bodies of the tables.insert and
	// jobs.insert calls.
	tables, queries []map[string]any
}

type bqAnswer struct {
	status  int
	reason  string
	message string
}

func (a bqAnswer) body() []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": a.status, "message": a.message, "status": strings.ToUpper(strings.ReplaceAll(http.StatusText(a.status), " ", "_")),
		"errors": []map[string]string{{"message": a.message, "domain": "global", "reason": a.reason}},
	}})
	return b
}

func (f *fakeBigQuery) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/bigquery/v2")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var call string
	switch {
	case r.Method == http.MethodPost && len(parts) == 5 && parts[4] == "tables":
		call = tablesInsert
	case r.Method == http.MethodDelete && len(parts) == 6 && parts[4] == "tables":
		w.WriteHeader(http.StatusNoContent)
		return
	case r.Method == http.MethodPost && len(parts) == 3 && parts[2] == "jobs":
		call = jobsInsert
	case r.Method == http.MethodGet && len(parts) == 4 && parts[2] == "queries":
		call = getQueryResults
	case r.Method == http.MethodGet && len(parts) == 4 && parts[2] == "jobs":
		call = jobsGet
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotImplemented)
		return
	}
	f.mu.Lock()
	f.calls[call]++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if a, ok := f.fail[call]; ok {
		w.WriteHeader(a.status)
		w.Write(a.body())
		return
	}
	var resp map[string]any
	switch call {
	case tablesInsert, jobsInsert:
		// Echo the resource, as BigQuery does (plus the job's state).
		if err := json.NewDecoder(r.Body).Decode(&resp); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		if call == jobsInsert {
			f.queries = append(f.queries, resp)
			resp["status"] = map[string]any{"state": "RUNNING"}
		} else {
			f.tables = append(f.tables, resp)
		}
		f.mu.Unlock()
	case getQueryResults:
		resp = map[string]any{
			"jobReference": map[string]any{"projectId": parts[1], "jobId": parts[3]},
			"jobComplete":  true, "totalRows": "0", "schema": map[string]any{"fields": []any{}},
		}
	case jobsGet:
		status := map[string]any{"state": "DONE"}
		if f.jobError != nil {
			status["errorResult"] = f.jobError
			status["errors"] = []any{f.jobError}
		}
		resp = map[string]any{
			"jobReference":  map[string]any{"projectId": parts[1], "jobId": parts[3]},
			"configuration": map[string]any{"query": map[string]any{"query": "SELECT 1"}},
			"status":        status,
		}
	}
	json.NewEncoder(w).Encode(resp)
}

// TestTransformErrors points a real BigQuery client at a server answering
// BigQuery's documented errors for each call of a transform and checks the
// fault kind: a misconfiguration fails with a message saying what to
// check and blames no object; rate and quota limits are transient; only an
// error naming some of the chunk's objects blames those.
func TestTransformErrors(t *testing.T) {
	const (
		project = "test-project"
		dataset = "reports"
		bucket  = "logs-bucket"
	)
	obj := func(i int) string {
		return fmt.Sprintf("gs://%s/logs/user_action/dt=2024-05-01/hour=10/%032d.v2.parquet", bucket, i)
	}
	uris := []string{obj(1), obj(2), obj(3)}
	tests := []struct {
		name     string
		fail     map[string]bqAnswer
		jobError map[string]string
		wantKind error
		// wantNamed are the objects blamed; wantCheck is in the message of
		// a misconfiguration.
		wantNamed []string
		wantCheck []string
		// wantCalls are the calls made that must be made once only (no
		// retries, nothing after the failure).
		wantCalls map[string]int
	}{
		{
			name:      "dataset not found creating the table",
			fail:      map[string]bqAnswer{tablesInsert: {404, "notFound", "Not found: Dataset test-project:reports"}},
			wantKind:  fault.ErrMisconfigured,
			wantCheck: []string{"BIGQUERY_DATASET", `"reports"`, "BIGQUERY_PROJECT", "BIGQUERY_LOCATION"},
			wantCalls: map[string]int{tablesInsert: 1},
		},
		{
			name:      "dataset not in the location of the job",
			fail:      map[string]bqAnswer{jobsInsert: {404, "notFound", "Not found: Dataset test-project:reports was not found in location EU"}},
			wantKind:  fault.ErrMisconfigured,
			wantCheck: []string{"BIGQUERY_LOCATION", `"EU"`},
			wantCalls: map[string]int{tablesInsert: 1, jobsInsert: 1},
		},
		{
			name:      "job not found in the location",
			fail:      map[string]bqAnswer{getQueryResults: {404, "notFound", "Not found: Job test-project:EU.job_123"}},
			wantKind:  fault.ErrMisconfigured,
			wantCheck: []string{"BIGQUERY_LOCATION"},
			wantCalls: map[string]int{tablesInsert: 1, jobsInsert: 1, getQueryResults: 1},
		},
		{
			name:      "permission to create tables denied",
			fail:      map[string]bqAnswer{tablesInsert: {403, "accessDenied", "Access Denied: Dataset test-project:reports: Permission bigquery.tables.create denied on dataset test-project:reports (or it may not exist)."}},
			wantKind:  fault.ErrMisconfigured,
			wantCheck: []string{"roles/bigquery.dataEditor", "roles/bigquery.jobUser", "roles/storage.objectViewer"},
			wantCalls: map[string]int{tablesInsert: 1},
		},
		{
			name:      "permission to run jobs denied",
			fail:      map[string]bqAnswer{jobsInsert: {403, "accessDenied", "Access Denied: Project test-project: User does not have bigquery.jobs.create permission in project test-project."}},
			wantKind:  fault.ErrMisconfigured,
			wantCheck: []string{"roles/bigquery.jobUser"},
			wantCalls: map[string]int{tablesInsert: 1, jobsInsert: 1},
		},
		{
			name:      "permission to read the bucket denied, naming an object",
			fail:      map[string]bqAnswer{getQueryResults: {403, "accessDenied", "Access Denied: BigQuery BigQuery: Permission denied while globbing file pattern. masora@test-project.iam.gserviceaccount.com does not have storage.objects.get access to the Google Cloud Storage object " + obj(2) + "."}},
			wantKind:  fault.ErrMisconfigured,
			wantCheck: []string{"roles/storage.objectViewer"},
			wantCalls: map[string]int{tablesInsert: 1, jobsInsert: 1, getQueryResults: 1},
		},
		{
			name:      "table definition rejected",
			fail:      map[string]bqAnswer{tablesInsert: {400, "invalid", "Invalid value for sourceFormat: PARQUETT is not a valid value"}},
			wantKind:  fault.ErrMisconfigured,
			wantCheck: []string{"external table definition"},
			wantCalls: map[string]int{tablesInsert: 1},
		},
		{
			name:      "transform SQL rejected",
			fail:      map[string]bqAnswer{jobsInsert: {400, "invalidQuery", "Unrecognized name: app_versio at [29:3]"}},
			wantKind:  fault.ErrMisconfigured,
			wantCheck: []string{"schemas/logtypes/user_action/transform.sql"},
			wantCalls: map[string]int{tablesInsert: 1, jobsInsert: 1},
		},
		{
			name:     "rate limit creating the table is transient",
			fail:     map[string]bqAnswer{tablesInsert: {403, "rateLimitExceeded", "Exceeded rate limits: too many api requests per user per method for this user_method. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas"}},
			wantKind: fault.ErrUnavailable,
		},
		{
			name:      "quota exceeded running the query is transient",
			fail:      map[string]bqAnswer{jobsInsert: {403, "quotaExceeded", "Quota exceeded: Your project exceeded quota for concurrent queries. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas"}},
			wantKind:  fault.ErrUnavailable,
			wantCalls: map[string]int{tablesInsert: 1, jobsInsert: 1},
		},
		{
			name:      "quota exceeded waiting for the query is transient",
			fail:      map[string]bqAnswer{getQueryResults: {403, "quotaExceeded", "Quota exceeded: Your project exceeded quota for free query bytes scanned."}},
			wantKind:  fault.ErrUnavailable,
			wantCalls: map[string]int{tablesInsert: 1, jobsInsert: 1, getQueryResults: 1},
		},
		{
			name:     "backend error is transient",
			fail:     map[string]bqAnswer{tablesInsert: {503, "backendError", "Error encountered during execution. Retrying may solve the problem."}},
			wantKind: fault.ErrUnavailable,
		},
		{
			name:      "a missing file named by the query is that object only",
			fail:      map[string]bqAnswer{getQueryResults: {404, "notFound", "Not found: Files " + obj(2)}},
			wantKind:  fault.ErrBadObject,
			wantNamed: []string{obj(2)},
			wantCalls: map[string]int{tablesInsert: 1, jobsInsert: 1, getQueryResults: 1},
		},
		{
			name:      "a file named as /bigstore is that object only",
			fail:      map[string]bqAnswer{getQueryResults: {400, "invalid", "Error while reading table: masora_t, error message: Failed to read Parquet file /bigstore/" + strings.TrimPrefix(obj(3), "gs://") + ". It may be corrupt."}},
			wantKind:  fault.ErrBadObject,
			wantNamed: []string{obj(3)},
			wantCalls: map[string]int{tablesInsert: 1, jobsInsert: 1, getQueryResults: 1},
		},
		{
			name:      "a failed job naming a file in its errorResult is that object only",
			jobError:  map[string]string{"reason": "invalid", "location": obj(1), "message": "Error while reading table: masora_t, error message: Parquet column 'quantity' has type BYTE_ARRAY which does not match the target cpp_type INT64. File: " + obj(1)},
			wantKind:  fault.ErrBadObject,
			wantNamed: []string{obj(1)},
			wantCalls: map[string]int{tablesInsert: 1, jobsInsert: 1, getQueryResults: 1, jobsGet: 1},
		},
		{
			name:      "a data error naming no object blames none",
			fail:      map[string]bqAnswer{getQueryResults: {400, "invalid", "Error while reading table: masora_t, error message: Failed to read Parquet data."}},
			wantKind:  fault.ErrMisconfigured,
			wantCalls: map[string]int{tablesInsert: 1, jobsInsert: 1, getQueryResults: 1},
		},
	}
	reg := schema.MustLoad()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := &fakeBigQuery{fail: tt.fail, jobError: tt.jobError, calls: map[string]int{}}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			bq, err := bigquery.NewClient(t.Context(), project, option.WithEndpoint(srv.URL), option.WithoutAuthentication())
			if err != nil {
				t.Fatal(err)
			}
			defer bq.Close()
			// The client retries rate limits and backend errors until the
			// call's deadline: keep it short.
			w, err := warehouse.New(bq, reg, transforms(t), warehouse.Options{Dataset: dataset, Location: "EU", CallTimeout: 1500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.Transform(t.Context(), "user_action", "t", []warehouse.Source{{Version: 2, URIs: uris}})
			if got := fault.Kind(err); got != tt.wantKind {
				t.Fatalf("Transform: %v\nkind %v, want %v", err, got, tt.wantKind)
			}
			var named *fault.BadObjectsError
			var gotNamed []string
			if errors.As(err, &named) {
				gotNamed = named.URIs
			}
			if diff := cmp.Diff(tt.wantNamed, gotNamed); diff != "" {
				t.Errorf("objects blamed (-want +got):\n%s\nerror: %v", diff, err)
			}
			for _, s := range tt.wantCheck {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error does not say to check %s: %v", s, err)
				}
			}
			if tt.wantKind == fault.ErrMisconfigured && !strings.Contains(err.Error(), "; check ") {
				t.Errorf("misconfiguration does not say what to check: %v", err)
			}
			if tt.wantCalls != nil {
				if diff := cmp.Diff(tt.wantCalls, fake.calls); diff != "" {
					t.Errorf("calls (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestTransformOneTablePerVersion checks what a real client sends for a
// chunk of v1 and v2 files: one external table per version, listing only
// that version's files, with that version's schema, and one query reading
// both through UNION ALL, v1's missing column padded with a typed NULL.
func TestTransformOneTablePerVersion(t *testing.T) {
	fake := &fakeBigQuery{calls: map[string]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	bq, err := bigquery.NewClient(t.Context(), "test-project", option.WithEndpoint(srv.URL), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	reg := schema.MustLoad()
	w, err := warehouse.New(bq, reg, transforms(t), warehouse.Options{Dataset: "reports", CallTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sources := []warehouse.Source{
		{Version: 1, URIs: []string{"gs://b/v1a.parquet", "gs://b/v1b.parquet"}},
		{Version: 2, URIs: []string{"gs://b/v2a.parquet"}},
	}
	if _, err := w.Transform(t.Context(), "user_action", "t", sources); err != nil {
		t.Fatal(err)
	}
	versions, err := reg.Versions("user_action")
	if err != nil {
		t.Fatal(err)
	}
	if len(fake.tables) != 2 {
		t.Fatalf("%d tables created, want 2", len(fake.tables))
	}
	type table struct {
		URIs   []string
		Fields []string
	}
	var got, want []table
	for i, tb := range fake.tables {
		ext := tb["externalDataConfiguration"].(map[string]any)
		var tt table
		for _, u := range ext["sourceUris"].([]any) {
			tt.URIs = append(tt.URIs, u.(string))
		}
		for _, f := range ext["schema"].(map[string]any)["fields"].([]any) {
			tt.Fields = append(tt.Fields, f.(map[string]any)["name"].(string))
		}
		got = append(got, tt)
		wt := table{URIs: sources[i].URIs}
		for _, c := range versions[i].Columns() {
			wt.Fields = append(wt.Fields, c.Name)
		}
		want = append(want, wt)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("external tables (-want +got):\n%s", diff)
	}
	if len(fake.queries) != 1 {
		t.Fatalf("%d queries, want 1", len(fake.queries))
	}
	q := fake.queries[0]["configuration"].(map[string]any)["query"].(map[string]any)["query"].(string)
	for _, s := range []string{"CAST(NULL AS STRING) AS app_version", " UNION ALL SELECT ", "masora_user_action_t_v1_", "masora_user_action_t_v2_"} {
		if !strings.Contains(q, s) {
			t.Errorf("query does not contain %q:\n%s", s, q)
		}
	}
	if strings.Contains(q, warehouse.SourceTablePlaceholder) {
		t.Errorf("query still holds the placeholder:\n%s", q)
	}
}
