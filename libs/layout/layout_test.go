package layout_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/layout"
)

const name = "0123456789abcdef0123456789abcdef"

func TestPaths(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 59, 59, 999, time.FixedZone("CET", 3600)) // 08:59 UTC
	tests := []struct {
		desc string
		got  string
		want string
	}{
		{"data", layout.DataPath("logs", "user_action", 2, at, name), "logs/user_action/dt=2026-11-26/hour=08/" + name + ".v2.parquet"},
		{"data version 1", layout.DataPath("logs", "user_action", 1, at, name), "logs/user_action/dt=2026-11-26/hour=08/" + name + ".v1.parquet"},
		{"data version 12", layout.DataPath("logs", "user_action", 12, at, name), "logs/user_action/dt=2026-11-26/hour=08/" + name + ".v12.parquet"},
		{"prefix with slash", layout.DataPath("a/b/", "user_action", 1, at, name), "a/b/user_action/dt=2026-11-26/hour=08/" + name + ".v1.parquet"},
		{"empty prefix", layout.DataPath("", "seller_action", 1, at, name), "seller_action/dt=2026-11-26/hour=08/" + name + ".v1.parquet"},
		{"data suffix", layout.DataSuffix(3), ".v3.parquet"},
		{"quarantine", layout.QuarantinePath("logs", at, name), "logs/_quarantine/dt=2026-11-26/hour=08/" + name + ".jsonl"},
		{"hour prefix", layout.HourPrefix("logs", "user_action", at), "logs/user_action/dt=2026-11-26/hour=08/"},
		{"log type prefix", layout.LogTypePrefix("logs", "user_action"), "logs/user_action/"},
		{"quarantine prefix", layout.LogTypePrefix("logs", layout.QuarantineDir), "logs/_quarantine/"},
		{"midnight UTC", layout.HourPrefix("logs", "x", time.Date(2026, 1, 1, 0, 30, 0, 0, time.FixedZone("", -3600))), "logs/x/dt=2026-01-01/hour=01/"},
		{"day before in UTC", layout.HourPrefix("logs", "x", time.Date(2026, 1, 1, 0, 30, 0, 0, time.FixedZone("", 3600))), "logs/x/dt=2025-12-31/hour=23/"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, tt.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.desc, diff)
		}
	}
}

func TestHourPrefixes(t *testing.T) {
	from := time.Date(2026, 11, 25, 22, 10, 0, 0, time.UTC)
	tests := []struct {
		desc string
		to   time.Time
		want []string
	}{
		{"same hour", from.Add(40 * time.Minute), []string{"p/t/dt=2026-11-25/hour=22/"}},
		{"across midnight", from.Add(2 * time.Hour), []string{
			"p/t/dt=2026-11-25/hour=22/",
			"p/t/dt=2026-11-25/hour=23/",
			"p/t/dt=2026-11-26/hour=00/",
		}},
		{"to before from", from.Add(-time.Hour), nil},
	}
	for _, tt := range tests {
		got := layout.HourPrefixes("p", "t", from, tt.to)
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.desc, diff)
		}
	}
	if got := len(layout.HourPrefixes("p", "t", from.Add(-48*time.Hour), from)); got != 49 {
		t.Errorf("48 hours back: got %d folders, want 49", got)
	}
}

func TestName(t *testing.T) {
	a := layout.Name([]string{"m-2", "m-1", "m-3"})
	tests := []struct {
		desc string
		ids  []string
		same bool
	}{
		{"same ids, other order", []string{"m-3", "m-1", "m-2"}, true},
		{"one id fewer", []string{"m-1", "m-2"}, false},
		{"one id more", []string{"m-1", "m-2", "m-3", "m-4"}, false},
		{"ids concatenated differently", []string{"m-1m-2", "m-3"}, false},
	}
	for _, tt := range tests {
		b := layout.Name(tt.ids)
		if (a == b) != tt.same {
			t.Errorf("%s: Name = %s vs %s, want same=%v", tt.desc, b, a, tt.same)
		}
	}
	if len(a) != layout.NameLen || strings.Trim(a, "0123456789abcdef") != "" {
		t.Errorf("Name = %q, want %d lower case hex digits", a, layout.NameLen)
	}
	ids := []string{"b", "a"}
	layout.Name(ids)
	if diff := cmp.Diff([]string{"b", "a"}, ids); diff != "" {
		t.Errorf("Name modified its argument (-want +got):\n%s", diff)
	}
}

func TestParseRoundTrip(t *testing.T) {
	hour := time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)
	tests := []struct {
		prefix string
		obj    layout.Object
	}{
		{"logs", layout.Object{Kind: layout.Data, LogType: "user_action", Version: 2, Hour: hour, Name: name}},
		{"a/b/", layout.Object{Kind: layout.Data, LogType: "seller_action2", Version: 1, Hour: hour.Add(-23 * time.Hour), Name: name}},
		{"", layout.Object{Kind: layout.Data, LogType: "x", Version: 10, Hour: hour, Name: name}},
		{"logs", layout.Object{Kind: layout.Data, LogType: "x", Version: 999999999, Hour: hour, Name: name}},
		{"logs", layout.Object{Kind: layout.Quarantine, Hour: hour, Name: layout.Name([]string{"id"})}},
	}
	for _, tt := range tests {
		p := tt.obj.Path(tt.prefix)
		got, err := layout.Parse(tt.prefix, p)
		if err != nil {
			t.Errorf("Parse(%q, %q): %v", tt.prefix, p, err)
			continue
		}
		if diff := cmp.Diff(tt.obj, got); diff != "" {
			t.Errorf("Parse(%q, %q) (-want +got):\n%s", tt.prefix, p, diff)
		}
	}
}

func TestParseRejects(t *testing.T) {
	const dir = "logs/user_action/dt=2026-11-26/hour=08/"
	tests := []struct {
		path    string
		problem string
	}{
		{"other/user_action/dt=2026-11-26/hour=08/" + name + ".v1.parquet", `not under prefix "logs/"`},
		{"logsx/user_action/dt=2026-11-26/hour=08/" + name + ".v1.parquet", "not under prefix"},
		{"logs/user_action/dt=2026-11-26/" + name + ".v1.parquet", "got 3 path segments"},
		{dir + "x/" + name + ".v1.parquet", "got 5 path segments"},
		{"logs/User_action/dt=2026-11-26/hour=08/" + name + ".v1.parquet", `log type "User_action"`},
		{"logs//dt=2026-11-26/hour=08/" + name + ".v1.parquet", `log type ""`},
		{"logs/user_action/date=2026-11-26/hour=08/" + name + ".v1.parquet", "dt=YYYY-MM-DD"},
		{"logs/user_action/dt=2026-02-30/hour=08/" + name + ".v1.parquet", "dt=YYYY-MM-DD"},
		{"logs/user_action/dt=2026-1-26/hour=08/" + name + ".v1.parquet", "dt=YYYY-MM-DD"},
		{"logs/user_action/dt=2026-11-26/hour=24/" + name + ".v1.parquet", "00 to 23"},
		{"logs/user_action/dt=2026-11-26/hour=8/" + name + ".v1.parquet", "00 to 23"},
		{"logs/user_action/dt=2026-11-26/h=08/" + name + ".v1.parquet", "hour=HH"},
		{dir + name + ".v1.jsonl", "must end in .parquet"},
		{dir + name + ".jsonl", "must end in .parquet"},
		{"logs/_quarantine/dt=2026-11-26/hour=08/" + name + ".parquet", "must end in .jsonl"},
		{"logs/_quarantine/dt=2026-11-26/hour=08/" + name + ".v1.jsonl", "32 lower case hex digits"},
		{dir + name[:31] + ".v1.parquet", "32 lower case hex digits"},
		{dir + strings.ToUpper(name) + ".v1.parquet", "32 lower case hex digits"},
		{dir + name + "0.v1.parquet", "32 lower case hex digits"},
		{dir + "x." + name + ".v1.parquet", "32 lower case hex digits"},
		{dir + ".v1.parquet", "32 lower case hex digits"},
		{dir, "must end in .parquet"},
		// The version: v<N>, N from 1, no leading zeros, fits an int.
		{dir + name + ".parquet", "must look like <name>.v<N>.parquet"},
		{dir + name + "v1.parquet", "must look like <name>.v<N>.parquet"},
		{dir + ".parquet", "must look like <name>.v<N>.parquet"},
		{dir + name + ".v.parquet", `version "v"`},
		{dir + name + ".v0.parquet", `version "v0"`},
		{dir + name + ".v01.parquet", `version "v01"`},
		{dir + name + ".v-1.parquet", `version "v-1"`},
		{dir + name + ".v+1.parquet", `version "v+1"`},
		{dir + name + ".v1a.parquet", `version "v1a"`},
		{dir + name + ".V1.parquet", `version "V1"`},
		{dir + name + ".1.parquet", `version "1"`},
		{dir + name + ".v 1.parquet", `version "v 1"`},
		{dir + name + ".v1.v2.parquet", "32 lower case hex digits"},
		{dir + name + "..parquet", `version ""`},
		{dir + name + ".v1234567890.parquet", `version "v1234567890"`},
		{dir + name + ".v99999999999999999999.parquet", `version "v99999999999999999999"`},
	}
	for _, tt := range tests {
		_, err := layout.Parse("logs", tt.path)
		if !errors.Is(err, layout.ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", tt.path, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.problem) {
			t.Errorf("Parse(%q) = %q, want it to mention %q", tt.path, err, tt.problem)
		}
	}
}

// TestVersionsHaveDistinctNames checks that the files of one batch written
// with different versions never share a name.
func TestVersionsHaveDistinctNames(t *testing.T) {
	at := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	seen := map[string]int{}
	for v := 1; v <= 12; v++ {
		p := layout.DataPath("logs", "user_action", v, at, name)
		if w, ok := seen[p]; ok {
			t.Errorf("versions %d and %d share the name %s", w, v, p)
		}
		seen[p] = v
		o, err := layout.Parse("logs", p)
		if err != nil || o.Version != v {
			t.Errorf("Parse(%q) = %+v, %v; want version %d", p, o, err, v)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("logs/user_action/dt=2026-11-26/hour=08/" + name + ".v2.parquet")
	f.Add("logs/user_action/dt=2026-11-26/hour=08/" + name + ".v01.parquet")
	f.Add("logs/_quarantine/dt=2026-11-26/hour=08/" + name + ".jsonl")
	f.Fuzz(func(t *testing.T, p string) {
		o, err := layout.Parse("logs", p)
		if err != nil {
			return
		}
		if got := o.Path("logs"); got != p {
			t.Errorf("Parse(%q) then Path = %q; a parsed path must rebuild to itself", p, got)
		}
	})
}
