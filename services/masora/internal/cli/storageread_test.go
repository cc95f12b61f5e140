package cli_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ore-masora/pipeline/libs/testkit/bqreadtest"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
)

// TestRunThroughStorageReadAPI runs masora as configured in production,
// reading results with the Storage Read API (there from a bqreadtest
// server, since the emulator's is broken), and checks that the rows were
// loaded and came through that server.
func TestRunThroughStorageReadAPI(t *testing.T) {
	s := masoratest.New(t)
	srv := bqreadtest.New(t, bqreadtest.Options{Source: s.BigQuery, Streams: 3})
	env := stackEnv(t, s)
	env["BIGQUERY_STORAGE_READ_ENDPOINT"] = srv.Addr() // MASORA_BIGQUERY_STORAGE_READ defaults to true with it
	at := time.Now().UTC().Add(-2 * time.Hour)
	const n = 30
	var msgs []masoratest.Message
	for i := range n {
		msgs = append(msgs, masoratest.UserAction{EventID: uuid.New(), OccurredAt: at.Add(-time.Duration(i) * time.Minute), Action: "cart_confirmed", Channel: "web", UserID: "u"}.Message(at))
	}
	s.WriteObject(t, "user_action", msgs[:n/2])
	s.WriteObject(t, "user_action", msgs[n/2:])

	r := run(t.Context(), env, "run", "-log-type", "user_action")
	var out struct {
		Runs []struct {
			Rows int `json:"rows_loaded"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 || len(out.Runs) != 1 || out.Runs[0].Rows != n {
		t.Fatalf("masora run = exit %d, %v\nstdout: %s\nstderr: %s\nwant exit 0 and %d rows", r.code, err, r.stdout, r.stderr, n)
	}
	if got := s.Count(t, `SELECT count(*) FROM user_actions`); got != n {
		t.Errorf("user_actions has %d rows, want %d", got, n)
	}
	if st := srv.Stats(); st.Sessions != 1 || st.Rows != n || st.Streams != 3 {
		t.Errorf("Storage Read API server stats %+v: want 1 session, %d rows over 3 streams", st, n)
	}
}
