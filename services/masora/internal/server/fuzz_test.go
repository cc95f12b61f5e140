package server

import (
	"errors"
	"net/url"
	"testing"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/masora/internal/fault"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
)

// FuzzParseRunBody checks that the parameters of /run and /backfill never
// panic the parser, that every refusal is a 400 (fault.ErrInvalid), and
// that what it accepts is consistent: a log type well formed, and a query
// parameter's value the one used.
func FuzzParseRunBody(f *testing.F) {
	f.Add([]byte(`{"log_type":"user_action"}`), "")
	f.Add([]byte(`{"log_type":"seller_action"}`), "log_type=user_action")
	f.Add([]byte(`{"from":"2024-05-01T00:00:00Z","to":"2024-05-01T05:00:00Z"}`), "log_type=user_action")
	f.Add([]byte(``), "from=2024-05-01T00:00:00Z&to=2024-05-01T05:00:00Z&log_type=user_action&log_type=user_action")
	f.Add([]byte(`{"logtype":"x"}`), "")
	f.Add([]byte(`{} {}`), "")
	f.Fuzz(func(t *testing.T, body []byte, rawQuery string) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		b, err := parseRunBody(body, q)
		if err != nil {
			if Status(err) != 400 || !errors.Is(err, fault.ErrInvalid) {
				t.Fatalf("parseRunBody(%q, %q): %v (status %d), want a 400", body, rawQuery, err, Status(err))
			}
			return
		}
		if b.LogType != "" && !schema.ValidName(b.LogType) {
			t.Fatalf("parseRunBody(%q, %q) accepted log type %q", body, rawQuery, b.LogType)
		}
		for key, got := range map[string]string{"log_type": b.LogType, "from": b.From, "to": b.To} {
			if v := q.Get(key); v != "" && got != v {
				t.Fatalf("parseRunBody(%q, %q): %s = %q, want the query's %q", body, rawQuery, key, got, v)
			}
		}
	})
}

// FuzzBackfillRange checks that a backfill's from and to never panic the
// parser and the range check, that every refusal is a 400, and that an
// accepted range is ordered, from 2000 on and at most the maximum long.
func FuzzBackfillRange(f *testing.F) {
	f.Add("2024-05-01T00:00:00Z", "2024-05-03T23:00:00Z")
	f.Add("0000-01-01T00:00:00Z", "0000-01-01T05:00:00Z")
	f.Add("1024-05-01T00:00:00Z", "2024-05-01T00:00:00Z")
	f.Add("2024-05-01T00:00:00+14:00", "2024-04-30T23:00:00-12:00")
	f.Add("2024-05-03T00:00:00Z", "2024-05-01T00:00:00Z")
	f.Add("yesterday", "")
	f.Fuzz(func(t *testing.T, fromS, toS string) {
		from, to, err := parseRange(fromS, toS)
		if err == nil {
			err = run.CheckRange(from, to, run.DefaultMaxBackfill)
		}
		if err != nil {
			if Status(err) != 400 {
				t.Fatalf("range %q to %q: %v (status %d), want a 400", fromS, toS, err, Status(err))
			}
			return
		}
		if from.UTC().Year() < 2000 || to.Before(from) || to.Sub(from) > run.DefaultMaxBackfill {
			t.Fatalf("range %q to %q accepted: from %v to %v", fromS, toS, from, to)
		}
	})
}
