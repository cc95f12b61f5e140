package cost

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
)

// The cadences and Firehose buffers the tables compare.
const (
	Hourly      = 3600
	EveryMinute = 60
	// managedSlowBuffer and managedFastBuffer are Firehose's longest
	// buffer interval and the one that matches a 1-minute cadence.
	managedSlowBuffer = 900
	managedFastBuffer = 60
)

// FreshWindowSeconds is the longest batching window that keeps the p95 of
// publish → row in Postgres under 2 minutes with a 1-minute cadence: the
// p95 is about the window plus the cadence plus the load (BENCHMARKS.md,
// "Load and freshness").
const FreshWindowSeconds = 30

// Windows are the batching windows the recommendation considers (the event
// source mapping allows 0–300 s).
var Windows = []float64{5, 10, 20, 30, 60, 120, 300}

// Column is one column of the comparison: a scenario of ours or of the
// managed path.
type Column struct {
	Name string
	Bill Bill
}

// Compare returns the four columns of the comparison at a monthly volume:
// ours hourly and every minute (window as given), the managed path with a
// 900 s and a 60 s buffer.
func Compare(f Figures, d Deployment, events, window float64) []Column {
	return []Column{
		{"ours, hourly", Ours(f, d, Scenario{Events: events, CadenceSeconds: Hourly, WindowSeconds: window})},
		{"ours, every minute", Ours(f, d, Scenario{Events: events, CadenceSeconds: EveryMinute, WindowSeconds: window})},
		{"managed, 900 s buffer", Managed(f, d, Scenario{Events: events}, managedSlowBuffer)},
		{"managed, 60 s buffer", Managed(f, d, Scenario{Events: events}, managedFastBuffer)},
	}
}

// WriteComparison writes the comparison at a monthly volume as a markdown
// table, USD per million events.
func WriteComparison(w io.Writer, f Figures, d Deployment, events, window float64) {
	cols := Compare(f, d, events, window)
	fmt.Fprintf(w, "%s events a month (%.3g a second), Ore batching window %.0f s; USD per million events\n\n", human(events), events/MonthSeconds, window)
	head := []string{"item"}
	for _, c := range cols {
		head = append(head, c.Name)
	}
	row(w, head...)
	row(w, slices.Repeat([]string{"---"}, len(head))...)
	var items []string
	for _, c := range cols {
		for _, l := range c.Bill.Lines {
			if !slices.Contains(items, l.Item) {
				items = append(items, l.Item)
			}
		}
	}
	for _, it := range items {
		cells := []string{it}
		for _, c := range cols {
			if l, ok := c.Bill.Line(it); ok {
				cells = append(cells, usd(c.Bill.PerMillion(l.USD)))
			} else {
				cells = append(cells, "—")
			}
		}
		row(w, cells...)
	}
	sub := []string{"**queue → parquet files**"}
	tot := []string{"**total** (ours: into Postgres)"}
	for _, c := range cols {
		sub = append(sub, "**"+usd(c.Bill.PerMillion(Subtotal(c.Bill, ParquetItems)))+"**")
		tot = append(tot, "**"+usd(c.Bill.PerMillion(c.Bill.Total()))+"**")
	}
	row(w, sub...)
	row(w, tot...)
	fmt.Fprintln(w)
}

// WriteWindows writes the batching window's effect at a 1-minute cadence:
// files an hour per log type, the lines it moves and the total, for each
// rate and window.
func WriteWindows(w io.Writer, f Figures, d Deployment, rates []float64) {
	fmt.Fprintf(w, "Batching window at a 1-minute cadence, USD per million events (files: parquet files an hour per log type)\n\n")
	row(w, "events/s", "window", "files/h", "mean file", "BigQuery MB billed/query", "Lambda", "GCS ops", "BigQuery", "Cloud Run", "total")
	row(w, slices.Repeat([]string{"---"}, 10)...)
	for _, r := range rates {
		for _, win := range []float64{5, 60, 300} {
			s := Scenario{Events: r * MonthSeconds, CadenceSeconds: EveryMinute, WindowSeconds: win}
			q := Quantify(f, d, s)
			b := Ours(f, d, s)
			line := func(item string) string {
				l, _ := b.Line(item)
				return usd(b.PerMillion(l.USD))
			}
			fileKB := s.Events * f.ParquetBytesPerEvent / q.Objects / 1024
			row(w, fmt.Sprintf("%g", r), fmt.Sprintf("%.0f s", win), fmt.Sprintf("%.0f", q.ObjectsPerHour), fmt.Sprintf("%.1f KB", fileKB),
				fmt.Sprintf("%.1f", q.BilledQueryByte/(1<<20)), line(ItemLambda), line(ItemGCSOps), line(ItemBigQuery), line(ItemCloudRun),
				usd(b.PerMillion(b.Total())))
		}
	}
	fmt.Fprintln(w)
}

// Recommendation is the cheapest window at a rate, for each cadence.
type Recommendation struct {
	Rate float64
	// Hourly is the cheapest window with an hourly cadence; Fresh the
	// cheapest window no longer than FreshWindowSeconds with a 1-minute
	// cadence (p95 under 2 minutes).
	Hourly, Fresh float64
	// HourlyUSD and FreshUSD are their totals per million events.
	HourlyUSD, FreshUSD float64
}

// Recommend returns the cheapest window of Windows for each rate.
func Recommend(f Figures, d Deployment, rates []float64) []Recommendation {
	out := make([]Recommendation, 0, len(rates))
	for _, r := range rates {
		rec := Recommendation{Rate: r, HourlyUSD: math.Inf(1), FreshUSD: math.Inf(1)}
		for _, win := range Windows {
			for _, c := range []struct {
				cadence float64
				ok      bool
				best    *float64
				usd     *float64
			}{
				{Hourly, true, &rec.Hourly, &rec.HourlyUSD},
				{EveryMinute, win <= FreshWindowSeconds, &rec.Fresh, &rec.FreshUSD},
			} {
				if !c.ok {
					continue
				}
				b := Ours(f, d, Scenario{Events: r * MonthSeconds, CadenceSeconds: c.cadence, WindowSeconds: win})
				// Strictly cheaper by more than rounding: ties keep the
				// shorter window (fresher data for the same money).
				if v := b.PerMillion(b.Total()); v < *c.usd*(1-1e-9) {
					*c.usd, *c.best = v, win
				}
			}
		}
		out = append(out, rec)
	}
	return out
}

// WriteRecommendations writes Recommend's table.
func WriteRecommendations(w io.Writer, recs []Recommendation) {
	fmt.Fprintf(w, "Recommended batching window by volume (cheapest of %v s)\n\n", Windows)
	row(w, "events/s", "hourly cadence: window", "USD / M events", fmt.Sprintf("1-minute cadence, window ≤ %d s: window", FreshWindowSeconds), "USD / M events")
	row(w, "---", "---", "---", "---", "---")
	for _, r := range recs {
		row(w, fmt.Sprintf("%g", r.Rate), fmt.Sprintf("%.0f s", r.Hourly), usd(r.HourlyUSD), fmt.Sprintf("%.0f s", r.Fresh), usd(r.FreshUSD))
	}
	fmt.Fprintln(w)
}

// WritePrices writes the price table with its sources.
func WritePrices(w io.Writer) {
	row(w, "price", "USD", "unit", "quality", "source (read "+readOn+")")
	row(w, "---", "---", "---", "---", "---")
	for _, k := range slices.Sorted(maps.Keys(Prices)) {
		p := Prices[k]
		src := p.Source
		if p.Note != "" {
			src += "; " + p.Note
		}
		row(w, k, fmt.Sprintf("%g", p.USD), p.Unit, string(p.Quality), src)
	}
	fmt.Fprintln(w)
}

func row(w io.Writer, cells ...string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
}

// usd formats dollars: whole dollars from $100, cents from $1, then
// enough decimals to show small amounts.
func usd(v float64) string {
	switch {
	case v == 0:
		return "$0"
	case v >= 100:
		return fmt.Sprintf("$%.0f", v)
	case v >= 1:
		return fmt.Sprintf("$%.2f", v)
	case v >= 0.01:
		return fmt.Sprintf("$%.3f", v)
	default:
		return fmt.Sprintf("$%.5f", v)
	}
}

// human writes a count as 10M, 2.5B.
func human(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%gB", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%gM", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%gk", n/1e3)
	}
	return fmt.Sprintf("%g", n)
}
