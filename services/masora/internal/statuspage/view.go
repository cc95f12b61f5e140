package statuspage

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
)

// The page's layout, in SVG user units (pixels at 100% zoom).
const (
	barStep     = 14  // horizontal distance between two bars
	barWidth    = 11  // width of a bar
	plotHeight  = 90  // height of the tallest bar
	plotLeft    = 56  // room for the y axis labels
	plotTop     = 8   // room above the tallest bar
	labelHeight = 18  // room for the hour labels under the bars
	labelEvery  = 6   // one hour label every labelEvery bars
	errorLength = 160 // characters of a run's error shown in the table
)

// pageView is what the page template renders.
type pageView struct {
	Now      string
	NowISO   string
	NowUnix  int64
	Refresh  int
	Hours    int
	Error    string
	DLQ      dlqView
	LogTypes []logTypeView
}

type dlqView struct {
	Known  bool
	Depth  string
	Reason string
	Class  string
}

type logTypeView struct {
	Name     string
	Label    string
	ID       string
	Defined  bool
	Newest   string
	Lag      string
	LagSecs  int64
	State    string // ok, stale or never
	LastRun  *runView
	Rows     chart
	Quarant  chart
	RowsSum  string
	QuarSum  string
	Kinds    []reasonView
	Reasons  []reasonView
	Runs     []runView
	NoRunsIn string
}

type reasonView struct {
	Kind     string
	Reason   string
	Messages string
}

type runView struct {
	ID         int64
	Trigger    string
	Started    string
	Status     string
	Duration   string
	Objects    string
	Rows       string
	Duplicates string
	Error      string
	ErrorFull  string
}

// chart is an inline SVG bar chart of one value per hour.
type chart struct {
	Class string
	// Empty is true when every value is 0: no chart is drawn.
	Empty         bool
	Width, Height int
	Left          int
	PlotBottom    int
	Max           string
	Unit          string
	Bars          []bar
	Labels        []axisLabel
}

type bar struct {
	X, Y, W, H int
	Hour       string
	Value      int64
	Title      string
}

type axisLabel struct {
	X    int
	Text string
}

// viewOptions say how a Status is shown.
type viewOptions struct {
	staleAfter time.Duration
	refresh    time.Duration
}

// newView turns a Status into what the template renders.
func newView(s *Status, o viewOptions) pageView {
	v := pageView{
		Now:     s.Now.Format(timeLayout),
		NowISO:  s.Now.Format(time.RFC3339),
		NowUnix: s.Now.Unix(),
		Refresh: int(o.refresh / time.Second),
		Hours:   len(s.Hours),
		DLQ:     newDLQView(s.DLQ),
	}
	for _, l := range s.LogTypes {
		v.LogTypes = append(v.LogTypes, newLogTypeView(l, s, o))
	}
	return v
}

const (
	timeLayout = "2006-01-02 15:04:05 UTC"
	hourLayout = "2006-01-02 15:04 UTC"
)

func newDLQView(d DLQ) dlqView {
	if !d.Known {
		return dlqView{Reason: d.Reason, Class: "unknown"}
	}
	class := "ok"
	if d.Depth > 0 {
		class = "bad"
	}
	return dlqView{Known: true, Depth: group(d.Depth), Class: class}
}

func newLogTypeView(l LogType, s *Status, o viewOptions) logTypeView {
	v := logTypeView{
		Name:    l.Name,
		Label:   l.Name,
		ID:      "lt-" + l.Name,
		Defined: l.Defined,
		Rows:    newChart(s.Hours, l.RowsPerHour, "rows", "rows"),
		Quarant: newChart(s.Hours, l.QuarantinedPerHour, "quarantine", "messages"),
		RowsSum: group(sum(l.RowsPerHour)),
		QuarSum: group(sum(l.QuarantinedPerHour)),
		State:   "never",
		Newest:  "nothing loaded yet",
	}
	if l.Name == "" {
		v.Label, v.ID = "(no log type)", "lt-none"
	}
	if !l.NewestHour.IsZero() {
		lag := l.Lag(s.Now)
		v.Newest, v.Lag, v.LagSecs = l.NewestHour.Format(hourLayout), human(lag), int64(lag/time.Second)
		v.State = "ok"
		if lag > o.staleAfter {
			v.State = "stale"
		}
	}
	for _, r := range l.ReasonKinds {
		v.Kinds = append(v.Kinds, reasonView{Kind: r.Kind, Messages: group(r.Messages)})
	}
	for _, r := range l.TopReasons {
		v.Reasons = append(v.Reasons, reasonView{Kind: r.Kind, Reason: r.Reason, Messages: group(r.Messages)})
	}
	for _, r := range l.Runs {
		v.Runs = append(v.Runs, newRunView(r, s.Now))
	}
	if len(v.Runs) > 0 {
		v.LastRun = &v.Runs[0]
	}
	return v
}

func newRunView(r ledger.Run, now time.Time) runView {
	v := runView{
		ID:         r.ID,
		Trigger:    r.Trigger,
		Started:    r.StartedAt.UTC().Format(timeLayout),
		Status:     r.Status,
		Objects:    group(int64(r.ObjectsLoaded)),
		Rows:       group(r.RowsLoaded),
		Duplicates: group(r.DuplicatesSkipped),
		ErrorFull:  r.Error,
		Error:      r.Error,
	}
	if r.ObjectsFailed > 0 {
		v.Objects += fmt.Sprintf(" (%d failed)", r.ObjectsFailed)
	}
	if r.FinishedAt != nil {
		v.Duration = duration(r.FinishedAt.Sub(r.StartedAt))
	} else {
		v.Duration = "running for " + duration(now.Sub(r.StartedAt))
	}
	if rs := []rune(r.Error); len(rs) > errorLength {
		v.Error = string(rs[:errorLength]) + "…"
	}
	return v
}

// newChart lays out one bar per hour, scaled to the largest value.
func newChart(hours []time.Time, values []int64, class, unit string) chart {
	top := int64(0)
	for _, n := range values {
		top = max(top, n)
	}
	c := chart{
		Class:      class,
		Left:       plotLeft,
		Width:      plotLeft + len(hours)*barStep,
		Height:     plotTop + plotHeight + labelHeight,
		PlotBottom: plotTop + plotHeight,
		Max:        group(top),
		Empty:      top == 0,
		Unit:       unit,
	}
	for i, h := range hours {
		n := values[i]
		height := 0
		if top > 0 {
			height = int((n*plotHeight + top/2) / top)
			if n > 0 {
				height = max(height, 1) // a small value still shows
			}
		}
		x := plotLeft + i*barStep
		c.Bars = append(c.Bars, bar{
			X: x, Y: plotTop + plotHeight - height, W: barWidth, H: height,
			Hour: h.Format(time.RFC3339), Value: n,
			Title: fmt.Sprintf("%s: %s %s", h.Format(hourLayout), group(n), unit),
		})
		if h.Hour()%labelEvery == 0 {
			text := h.Format("15h")
			if h.Hour() == 0 {
				text = h.Format("Jan 2")
			}
			c.Labels = append(c.Labels, axisLabel{X: x, Text: text})
		}
	}
	return c
}

func sum(ns []int64) int64 {
	var t int64
	for _, n := range ns {
		t += n
	}
	return t
}

// group writes a count with a comma between groups of three digits.
func group(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// human writes a lag in days, hours and minutes.
func human(d time.Duration) string {
	if d < time.Minute {
		return "under a minute"
	}
	d = d.Truncate(time.Minute)
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	hours, mins := d/time.Hour, (d%time.Hour)/time.Minute
	var parts []string
	if days > 0 {
		parts = append(parts, fmt.Sprintf("%dd", days))
	}
	if hours > 0 {
		parts = append(parts, fmt.Sprintf("%dh", hours))
	}
	if mins > 0 && days == 0 {
		parts = append(parts, fmt.Sprintf("%dm", mins))
	}
	return strings.Join(parts, " ")
}

// duration writes a run's duration: milliseconds under a second, else
// seconds.
func duration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
