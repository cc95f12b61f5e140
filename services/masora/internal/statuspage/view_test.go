package statuspage

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
)

var now = time.Date(2026, 11, 30, 14, 25, 30, 0, time.UTC)

func TestFormats(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"group 0", group(0), "0"},
		{"group 999", group(999), "999"},
		{"group 1000", group(1000), "1,000"},
		{"group 1234567", group(1234567), "1,234,567"},
		{"human 30s", human(30 * time.Second), "under a minute"},
		{"human 1m59s", human(119 * time.Second), "1m"},
		{"human 1h", human(time.Hour), "1h"},
		{"human 1h25m30s", human(85*time.Minute + 30*time.Second), "1h 25m"},
		{"human 2d3h4m", human(51*time.Hour + 4*time.Minute), "2d 3h"},
		{"human 3d", human(72 * time.Hour), "3d"},
		{"duration 350.4ms", duration(350400 * time.Microsecond), "350ms"},
		{"duration 90.6s", duration(90600 * time.Millisecond), "1m31s"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestHoursEnding(t *testing.T) {
	got := hoursEnding(now.In(time.FixedZone("CET", 3600)), 3)
	want := []time.Time{
		time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("hoursEnding (-want +got):\n%s", diff)
	}
}

func TestChart(t *testing.T) {
	hours := hoursEnding(time.Date(2026, 11, 30, 1, 10, 0, 0, time.UTC), 3) // 23h, 0h, 1h
	type barHeight struct {
		Hour   string
		Value  int64
		Height int
		Title  string
	}
	tests := []struct {
		name   string
		values []int64
		max    string
		want   []barHeight
	}{
		{"empty", []int64{0, 0, 0}, "0", []barHeight{
			{"2026-11-29T23:00:00Z", 0, 0, "2026-11-29 23:00 UTC: 0 rows"},
			{"2026-11-30T00:00:00Z", 0, 0, "2026-11-30 00:00 UTC: 0 rows"},
			{"2026-11-30T01:00:00Z", 0, 0, "2026-11-30 01:00 UTC: 0 rows"},
		}},
		{"scaled to the largest", []int64{1000, 500, 0}, "1,000", []barHeight{
			{"2026-11-29T23:00:00Z", 1000, plotHeight, "2026-11-29 23:00 UTC: 1,000 rows"},
			{"2026-11-30T00:00:00Z", 500, plotHeight / 2, "2026-11-30 00:00 UTC: 500 rows"},
			{"2026-11-30T01:00:00Z", 0, 0, "2026-11-30 01:00 UTC: 0 rows"},
		}},
		{"a tiny value still shows", []int64{1, 0, 100000}, "100,000", []barHeight{
			{"2026-11-29T23:00:00Z", 1, 1, "2026-11-29 23:00 UTC: 1 rows"},
			{"2026-11-30T00:00:00Z", 0, 0, "2026-11-30 00:00 UTC: 0 rows"},
			{"2026-11-30T01:00:00Z", 100000, plotHeight, "2026-11-30 01:00 UTC: 100,000 rows"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newChart(hours, tt.values, "rows", "rows")
			var got []barHeight
			for i, b := range c.Bars {
				got = append(got, barHeight{b.Hour, b.Value, b.H, b.Title})
				if b.Y+b.H != c.PlotBottom {
					t.Errorf("bar %d stands at %d, want on the axis at %d", i, b.Y+b.H, c.PlotBottom)
				}
				if want := plotLeft + i*barStep; b.X != want {
					t.Errorf("bar %d at x=%d, want %d", i, b.X, want)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("bars (-want +got):\n%s", diff)
			}
			if c.Max != tt.max || c.Empty != (tt.max == "0") {
				t.Errorf("max label %q, empty %v; want %q", c.Max, c.Empty, tt.max)
			}
			// Midnight is labelled with its date.
			if diff := cmp.Diff([]axisLabel{{X: plotLeft + barStep, Text: "Nov 30"}}, c.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogTypeView(t *testing.T) {
	finished := now.Add(-time.Hour + 90*time.Second)
	longError := strings.Repeat("é", errorLength+10)
	hours := hoursEnding(now, 2)
	zeros := []int64{0, 0}
	tests := []struct {
		name string
		lt   LogType
		want logTypeView
	}{
		{"never loaded", LogType{Name: "user_action", Defined: true, RowsPerHour: zeros, QuarantinedPerHour: zeros},
			logTypeView{State: "never", Newest: "nothing loaded yet", RowsSum: "0", QuarSum: "0"}},
		{"fresh", LogType{Name: "user_action", Defined: true, NewestHour: now.Truncate(time.Hour), RowsPerHour: []int64{1500, 2}, QuarantinedPerHour: []int64{0, 3}},
			logTypeView{State: "ok", Newest: "2026-11-30 14:00 UTC", Lag: "25m", LagSecs: 25*60 + 30, RowsSum: "1,502", QuarSum: "3"}},
		{"just within two hours", LogType{Name: "user_action", Defined: true, NewestHour: now.Add(-2 * time.Hour), RowsPerHour: zeros, QuarantinedPerHour: zeros},
			logTypeView{State: "ok", Newest: "2026-11-30 12:25 UTC", Lag: "2h", LagSecs: 7200, RowsSum: "0", QuarSum: "0"}},
		{"stale", LogType{Name: "user_action", Defined: true, NewestHour: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), RowsPerHour: zeros, QuarantinedPerHour: zeros},
			logTypeView{State: "stale", Newest: "2026-11-30 12:00 UTC", Lag: "2h 25m", LagSecs: 2*3600 + 25*60 + 30, RowsSum: "0", QuarSum: "0"}},
		{"runs", LogType{Name: "user_action", Defined: true, RowsPerHour: zeros, QuarantinedPerHour: zeros, Runs: []ledger.Run{
			{ID: 9, Trigger: "schedule", Status: "running", StartedAt: now.Add(-2 * time.Minute)},
			{ID: 8, Trigger: "cli", Status: "failed", StartedAt: now.Add(-time.Hour), FinishedAt: &finished,
				ObjectsLoaded: 1200, ObjectsFailed: 2, RowsLoaded: 1234567, DuplicatesSkipped: 3, Error: longError},
		}}, logTypeView{State: "never", Newest: "nothing loaded yet", RowsSum: "0", QuarSum: "0", Runs: []runView{
			{ID: 9, Trigger: "schedule", Started: "2026-11-30 14:23:30 UTC", Status: "running", Duration: "running for 2m0s",
				Objects: "0", Rows: "0", Duplicates: "0"},
			{ID: 8, Trigger: "cli", Started: "2026-11-30 13:25:30 UTC", Status: "failed", Duration: "1m30s",
				Objects: "1,200 (2 failed)", Rows: "1,234,567", Duplicates: "3",
				Error: strings.Repeat("é", errorLength) + "…", ErrorFull: longError},
		}}},
		{"no log type", LogType{Name: "", RowsPerHour: zeros, QuarantinedPerHour: []int64{4, 1},
			ReasonKinds: []ReasonCount{{Kind: "no_log_type", Messages: 5}},
			TopReasons:  []ReasonCount{{Kind: "no_log_type", Reason: "no log_type attribute", Messages: 5}}},
			logTypeView{State: "never", Newest: "nothing loaded yet", RowsSum: "0", QuarSum: "5",
				Kinds:   []reasonView{{Kind: "no_log_type", Messages: "5"}},
				Reasons: []reasonView{{Kind: "no_log_type", Reason: "no log_type attribute", Messages: "5"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newLogTypeView(tt.lt, &Status{Now: now, Hours: hours}, viewOptions{staleAfter: DefaultStaleAfter})
			// The charts have their own test; the rest is compared here.
			got.Rows, got.Quarant, got.LastRun = chart{}, chart{}, nil
			tt.want.Name, tt.want.Label, tt.want.ID, tt.want.Defined = got.Name, got.Label, got.ID, tt.lt.Defined
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("view (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRender(t *testing.T) {
	s := &Status{
		Now:   now,
		Hours: hoursEnding(now, 2),
		DLQ:   DLQ{Known: true, Depth: 1234},
		LogTypes: []LogType{
			{Name: "seller_action", Defined: true, RowsPerHour: []int64{0, 0}, QuarantinedPerHour: []int64{0, 0}},
			{Name: "user_action", Defined: true, NewestHour: now.Truncate(time.Hour), RowsPerHour: []int64{10, 20}, QuarantinedPerHour: []int64{0, 1},
				Runs:       []ledger.Run{{ID: 3, Trigger: "schedule", Status: "failed", StartedAt: now, Error: `<script>alert("x")</script>`}},
				TopReasons: []ReasonCount{{Kind: "invalid", Reason: `field "user_id": <missing>`, Messages: 1}}},
			{Name: "", QuarantinedPerHour: []int64{2, 0}, RowsPerHour: []int64{0, 0}},
		},
	}
	tests := []struct {
		name string
		s    *Status
		want []string
		not  []string
	}{
		{"page", s, []string{
			`<time id="now" datetime="2026-11-30T14:25:30Z" data-unix="1796048730">2026-11-30 14:25:30 UTC</time>`,
			`<strong id="dlq-depth">1,234</strong> messages`,
			`<section class="logtype" id="lt-user_action" data-log-type="user_action">`,
			`<span class="value" data-field="newest-hour">2026-11-30 14:00 UTC</span>`,
			`<span data-field="lag" data-seconds="1530">25m</span>`,
			`<span class="value" data-field="rows-total">30</span>`,
			`data-hour="2026-11-30T14:00:00Z" data-value="20"><title>2026-11-30 14:00 UTC: 20 rows</title></rect>`,
			`<td class="status-failed" data-field="status">failed</td>`,
			`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`,
			`<td data-field="reason">field &#34;user_id&#34;: &lt;missing&gt;</td>`,
			`<section class="logtype" id="lt-none" data-log-type="">`,
			`<h2>(no log type) <span class="muted">(quarantine only: not a defined log type)</span></h2>`,
			`<meta http-equiv="refresh" content="60">`,
			`<p class="muted chart-empty rows">none in these hours</p>`,
		}, []string{`<script>`}},
		{"DLQ unknown", &Status{Now: now, DLQ: DLQ{Reason: "MASORA_DLQ_URL is not set"}}, []string{
			`<strong>unknown</strong> <span id="dlq-reason">(MASORA_DLQ_URL is not set)</span>`,
		}, []string{`dlq-depth`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := pageTemplates.ExecuteTemplate(&buf, "page.html", newView(tt.s, viewOptions{staleAfter: DefaultStaleAfter, refresh: DefaultRefresh})); err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("the page lacks %s", w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("the page has %s", n)
				}
			}
			if t.Failed() {
				t.Logf("page:\n%s", got)
			}
		})
	}
}
