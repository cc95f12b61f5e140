package statuspage_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// fixtureRun is a run of the fixture, started ago before now.
type fixtureRun struct {
	logType, trigger, status string
	ago, took                time.Duration // took 0: still running
	objects, failed          int
	rows, duplicates         int64
	err                      string
}

// fixtureMessage is a group of quarantined messages of the fixture,
// received ago before now.
type fixtureMessage struct {
	n                          int
	logType, source, kind, why string
	ago                        time.Duration
}

var (
	fixtureRuns = []fixtureRun{
		{logType: "user_action", trigger: "schedule", status: "succeeded", ago: 60 * time.Hour, took: time.Minute, objects: 9, rows: 999},
		{logType: "user_action", trigger: "schedule", status: "succeeded", ago: 3 * time.Hour, took: 90 * time.Second, objects: 3, rows: 1200, duplicates: 4},
		{logType: "user_action", trigger: "schedule", status: "succeeded", ago: 2 * time.Hour, took: 45 * time.Second, objects: 2, rows: 800},
		{logType: "user_action", trigger: "backfill", status: "failed", ago: 70 * time.Minute, took: 10 * time.Second, failed: 1,
			err: "1 object(s) could not be loaded: gs://bucket/logs/user_action/dt=2026-11-30/hour=12/x.v2.parquet: corrupt footer"},
		{logType: "user_action", trigger: "cli", status: "running", ago: 30 * time.Second, objects: 1, rows: 50},
	}
	// fixtureHours are the hour folders loaded into the manifest, ago
	// before now truncated to the hour.
	fixtureHours = []time.Duration{3 * time.Hour, 2 * time.Hour}

	fixtureMessages = []fixtureMessage{
		{3, "user_action", "web-frontend", "invalid_field", "user_id: required", 2*time.Hour - 10*time.Minute},
		{2, "user_action", "mobile-app", "invalid_json", "body is not JSON: unexpected end of input", 2*time.Hour - 20*time.Minute},
		{4, "user_action", "web-frontend", "invalid_field", "quantity: want at least 1, got 0", time.Hour - 10*time.Minute},
		{1, "user_action", "web-frontend", "invalid_field", "user_id: required", 50 * time.Hour},
		{1, "", "", "no_log_type", "no log_type message attribute", time.Hour - 5*time.Minute},
		{2, "mystery_action", "", "unknown_log_type", `unknown log type "mystery_action"`, time.Minute},
	}
)

// insertFixture writes runs, manifest entries and quarantined messages
// relative to now into the test's schema, as Masora's loads would have, and
// the hourly quarantine summary recounted from the messages.
func insertFixture(t *testing.T, pool *pgxpool.Pool, now time.Time) {
	t.Helper()
	ctx := t.Context()
	var lastRun int64
	for _, r := range fixtureRuns {
		started := now.Add(-r.ago)
		var finished *time.Time
		var errText *string
		if r.took > 0 {
			f := started.Add(r.took)
			finished = &f
		}
		if r.err != "" {
			errText = &r.err
		}
		err := pool.QueryRow(ctx, `
			INSERT INTO masora_runs (log_type, trigger, window_from, window_to, status, started_at, finished_at,
				objects_listed, objects_new, objects_loaded, objects_failed, chunks_loaded, rows_loaded, duplicates_skipped, error)
			VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $7, $7, $8, 1, $9, $10, $11) RETURNING run_id`,
			r.logType, r.trigger, started.Truncate(time.Hour), r.status, started, finished,
			r.objects, r.failed, r.rows, r.duplicates, errText).Scan(&lastRun)
		if err != nil {
			t.Fatalf("fixture run %+v: %v", r, err)
		}
	}
	for i, ago := range fixtureHours {
		hour := now.Truncate(time.Hour).Add(-ago)
		if _, err := pool.Exec(ctx, `
			INSERT INTO masora_manifest (object_name, generation, log_type, hour, size_bytes, run_id)
			VALUES ($1, 1, 'user_action', $2, 1000, $3)`,
			fmt.Sprintf("logs/user_action/dt=%s/hour=%s/%d.v2.parquet", hour.Format("2006-01-02"), hour.Format("15"), i), hour, lastRun); err != nil {
			t.Fatalf("fixture manifest: %v", err)
		}
	}
	n := 0
	for _, m := range fixtureMessages {
		for range m.n {
			n++
			var source *string
			if m.source != "" {
				source = &m.source
			}
			if _, err := pool.Exec(ctx, `
				INSERT INTO quarantined_messages (message_id, log_type, reason_kind, reason, source, body, received_at, writer_version)
				VALUES ($1, $2, $3, $4, $5, '{}', $6, 'fixture')`,
				fmt.Sprintf("m-%03d", n), m.logType, m.kind, m.why, source, now.Add(-m.ago)); err != nil {
				t.Fatalf("fixture quarantined message: %v", err)
			}
		}
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO quarantine_hourly (hour, log_type, source, reason_kind, messages)
		SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', log_type, coalesce(source, ''), reason_kind, count(*)
		FROM quarantined_messages GROUP BY 1, 2, 3, 4`); err != nil {
		t.Fatalf("fixture quarantine_hourly: %v", err)
	}
}
