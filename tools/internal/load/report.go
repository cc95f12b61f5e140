package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/tools/internal/load/cost"
)

// Report is what a load run measured.
type Report struct {
	Config     Config    `json:"config"`
	ChunkFiles int       `json:"chunk_files"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	// LoadBefore and LoadAfter are the machine's load averages (1, 5, 15
	// minutes) before and after: other work on the machine moves every
	// figure.
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
	// ActiveSeconds is the time from the services' start to the last run,
	// before the floors: the time the utilizations are shares of.
	ActiveSeconds float64 `json:"active_seconds"`

	Published Published `json:"published"`
	// Invariant is the invariant checker's summary line.
	Invariant string `json:"invariant"`
	// Stages is the freshness of every event, per stage; Rates the
	// throughput of the stages.
	Stages []Latency   `json:"stages"`
	Rates  []StageRate `json:"rates"`
	// Unattributed rows had no object to time their Ore and pick-up stages
	// by; CommitNotSeen rows' commits were timed by their run's end.
	Unattributed  int `json:"unattributed"`
	CommitNotSeen int `json:"commit_not_seen"`

	Ore    OreFigures    `json:"ore"`
	Masora MasoraFigures `json:"masora"`
	Sizes  Sizes         `json:"sizes"`
	// Traffic counts the requests through each proxy by operation: "sqs"
	// until the queue drained after publishing (the steady state), "sqs
	// (whole run)" with the idle tail.
	Traffic   map[string]map[string]OpStats `json:"traffic"`
	Processes []ProcessFigures              `json:"processes"`

	CopyFloor  CopyFloor    `json:"copy_floor"`
	DrainFloor []DrainRound `json:"drain_floor"`
	// Bottlenecks are the components by how busy they were, busiest first.
	Bottlenecks []Utilization `json:"bottlenecks"`
}

// Published is what the run published.
type Published struct {
	Events    int     `json:"events"`
	Distinct  int     `json:"distinct"`
	Seconds   float64 `json:"seconds"`
	PerSec    float64 `json:"per_second"`
	BodyBytes int64   `json:"body_bytes"`
}

// OreFigures are read from Ore's log lines.
type OreFigures struct {
	Batches int     `json:"batches"`
	Rows    int     `json:"rows"`
	Files   int     `json:"files"`
	Bytes   int64   `json:"bytes"`
	BusyMs  float64 `json:"busy_ms"`
	// FixedMs + MsPerEvent*n is a least-squares fit of a batch's handling
	// time to its size n.
	FixedMs    float64 `json:"fixed_ms"`
	MsPerEvent float64 `json:"ms_per_event"`
	// Stopped is the "poller stopped" line's counts (received, deleted,
	// receive_retries, ...).
	Stopped map[string]any `json:"stopped"`
}

func (l *oreLog) figures() OreFigures {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := OreFigures{Batches: len(l.batches), Stopped: l.stopped}
	var n, sx, sy, sxx, sxy float64
	for _, b := range l.batches {
		f.Rows += b.Rows
		f.Files += b.Files
		f.Bytes += b.Bytes
		f.BusyMs += b.DurationMs
		x, y := float64(b.Size), b.DurationMs
		n, sx, sy, sxx, sxy = n+1, sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	if d := n*sxx - sx*sx; n >= 2 && d > 0 {
		f.MsPerEvent = (n*sxy - sx*sy) / d
		f.FixedMs = (sy - f.MsPerEvent*sx) / n
	}
	if f.MsPerEvent <= 0 || f.FixedMs < 0 { // sizes too alike to fit: all per event
		f.FixedMs, f.MsPerEvent = 0, f.BusyMs/max(float64(f.Rows), 1)
	}
	return f
}

// MasoraFigures are read from masora_runs and the cadence.
type MasoraFigures struct {
	Triggers  int `json:"triggers"`
	Conflicts int `json:"conflicts"`
	// Runs counts masora_runs rows (one per log type per trigger), Loading
	// those that loaded rows.
	Runs    int   `json:"runs"`
	Loading int   `json:"loading"`
	Rows    int64 `json:"rows"`
	Objects int   `json:"objects"`
	Chunks  int   `json:"chunks"`
	// RunSeconds is the wall time of the loading runs, summed.
	RunSeconds float64 `json:"run_seconds"`
	// EmptyRunSeconds is the last /run's time, which found nothing new.
	EmptyRunSeconds float64 `json:"empty_run_seconds"`
}

func (m *MasoraFigures) read(ctx context.Context, db *pgx.Conn) error {
	err := db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE rows_loaded > 0),
		coalesce(sum(rows_loaded), 0), coalesce(sum(objects_loaded), 0), coalesce(sum(chunks_loaded), 0),
		coalesce(sum(extract(epoch FROM finished_at - started_at)) FILTER (WHERE rows_loaded > 0), 0)::float8
		FROM masora_runs`).Scan(&m.Runs, &m.Loading, &m.Rows, &m.Objects, &m.Chunks, &m.RunSeconds)
	if err != nil {
		return fmt.Errorf("read masora_runs: %w", err)
	}
	return nil
}

// copyFloor sets Masora's load rate beside the raw CopyFrom floor.
func (m MasoraFigures) copyFloor(rows int, floorPerSec float64, bq map[string]OpStats) CopyFloor {
	c := CopyFloor{Rows: rows, FloorPerSec: floorPerSec}
	var bqSeconds float64
	for _, s := range bq {
		bqSeconds += s.Seconds
	}
	if m.RunSeconds > 0 {
		c.MasoraPerSec = float64(m.Rows) / m.RunSeconds
	}
	if own := m.RunSeconds - bqSeconds; own > 0 {
		c.MasoraOwnPerSec = float64(m.Rows) / own
	}
	if floorPerSec > 0 {
		c.RatioToFloor, c.OwnRatioToFloor = c.MasoraPerSec/floorPerSec, c.MasoraOwnPerSec/floorPerSec
	}
	return c
}

// Sizes are the bytes of an event at each place.
type Sizes struct {
	// BigQueryBytesPerEvent is what BigQuery bills per event read from an
	// external parquet table: every column, sized by BigQuery's data types
	// (from a sample of the run's events).
	BigQueryBytesPerEvent float64 `json:"bigquery_bytes_per_event"`
	// PostgresBytesPerEvent is the row tables' total relation size per row.
	PostgresBytesPerEvent float64 `json:"postgres_bytes_per_event"`
}

// bigQueryLineageBytes are the lineage columns of a row as BigQuery sizes
// them: message_id (STRING, 36 characters), received_at (TIMESTAMP),
// writer_version (STRING, a dozen characters); extra_fields is NULL.
const bigQueryLineageBytes = (2 + 36) + 8 + (2 + 12)

func readSizes(ctx context.Context, db *pgx.Conn, reg *schema.Registry, pub *publisher) (Sizes, error) {
	var s Sizes
	const sample = 2000
	var total float64
	n := min(sample, int(pub.events.Load()))
	for k := range n {
		ev, err := pub.gen.Event(mix(k), k)
		if err != nil {
			return s, err
		}
		lt, err := reg.Latest(ev.LogType)
		if err != nil {
			return s, err
		}
		total += bigQueryBytes(lt, ev.Fields) + bigQueryLineageBytes
	}
	if n > 0 {
		s.BigQueryBytesPerEvent = total / float64(n)
	}
	var bytes, rows int64
	for _, name := range reg.Names() {
		lt, err := reg.Latest(name)
		if err != nil {
			return s, err
		}
		var b, r int64
		q := fmt.Sprintf("SELECT pg_total_relation_size('%[1]s'), (SELECT count(*) FROM %[1]s)", pgx.Identifier{lt.Table}.Sanitize())
		if err := db.QueryRow(ctx, q).Scan(&b, &r); err != nil {
			return s, fmt.Errorf("size of %s: %w", lt.Table, err)
		}
		bytes, rows = bytes+b, rows+r
	}
	if rows > 0 {
		s.PostgresBytesPerEvent = float64(bytes) / float64(rows)
	}
	return s, nil
}

// bigQueryBytes sizes an event's fields the way BigQuery bills them:
// STRING 2 bytes + its UTF-8 length, INT64, FLOAT64 and TIMESTAMP 8, BOOL
// 1, a missing (NULL) field 0; JSON fields are read as STRING.
func bigQueryBytes(lt *schema.LogType, fields map[string]any) float64 {
	var n float64
	for _, f := range lt.Fields {
		v, ok := fields[f.Name]
		if !ok || v == nil {
			continue
		}
		switch f.Type {
		case schema.TypeString, schema.TypeUUID:
			n += 2 + float64(len(fmt.Sprint(v)))
		case schema.TypeJSON:
			b, _ := json.Marshal(v)
			n += 2 + float64(len(b))
		case schema.TypeBool:
			n++
		default:
			n += 8
		}
	}
	return n
}

// Utilization is how busy one component was during the run, as a share of
// what it can do: 1.0 means saturated.
type Utilization struct {
	Component string  `json:"component"`
	Ours      bool    `json:"ours"`
	Share     float64 `json:"share"`
	Basis     string  `json:"basis"`
}

// bottlenecks ranks the components by how close they came to their
// ceiling while the pipeline ran (ActiveSeconds).
func bottlenecks(r *Report) []Utilization {
	wall := r.ActiveSeconds
	var bqBusy float64
	for _, s := range r.Traffic["bigquery"] {
		bqBusy += s.Seconds
	}
	var out []Utilization
	var totalCPU float64
	for _, p := range r.Processes {
		totalCPU += p.CPUSeconds
		switch {
		case strings.Contains(p.Name, "fauxqs"):
			out = append(out, Utilization{p.Name, false, p.Utilization, "CPU of its one Node thread (ceiling 1 core)"})
		case strings.Contains(p.Name, "BigQuery"):
			basis := fmt.Sprintf("time serving requests, one at a time (CPU %.2f cores)", p.Utilization)
			if r.Masora.RunSeconds > 0 {
				basis += fmt.Sprintf("; %.0f%% of Masora's loading-run time was spent waiting on it", 100*min(1, bqBusy/r.Masora.RunSeconds))
			}
			out = append(out, Utilization{p.Name, false, bqBusy / wall, basis})
		case p.Ours && strings.HasPrefix(p.Name, "Ore"):
			out = append(out, Utilization{p.Name, true, r.Ore.BusyMs / 1000 / wall / 2, fmt.Sprintf("time handling batches over its 2 handlers (CPU %.2f cores)", p.Utilization)})
		case p.Ours:
			own := max(0, r.Masora.RunSeconds-bqBusy)
			out = append(out, Utilization{p.Name, true, own / wall, fmt.Sprintf("time in loading runs less its BigQuery calls (%.1fs of %.1fs; CPU %.2f cores)", own, r.Masora.RunSeconds, p.Utilization)})
		default:
			out = append(out, Utilization{p.Name, false, p.Utilization / 2, "CPU over the machine's 2 cores"})
		}
	}
	out = append(out, Utilization{"the machine (these processes)", false, totalCPU / wall / 2, "CPU of Ore, Masora and the stack over 2 cores; other sessions' load not counted"})
	slices.SortStableFunc(out, func(a, b Utilization) int {
		switch {
		case a.Share > b.Share:
			return -1
		case a.Share < b.Share:
			return 1
		}
		return 0
	})
	return out
}

// Figures returns the per-unit figures the cost model prices.
func (r *Report) Figures() cost.Figures {
	ev := float64(max(r.Published.Events, 1))
	sqs := r.Traffic["sqs"]
	bq := r.Traffic["bigquery"]
	gcs := r.Traffic["gcs"]
	f := cost.Figures{
		Run: cost.RunInfo{Rate: r.Config.Rate, Seconds: r.Published.Seconds, Events: r.Published.Events,
			WindowSeconds: r.Config.Window.Seconds(), CadenceSecs: r.Config.Cadence.Seconds(), Date: r.Started.Format(time.DateOnly)},
		LogTypes:              2,
		BodyBytes:             float64(r.Published.BodyBytes) / ev,
		ParquetBytesPerEvent:  float64(r.Ore.Bytes) / float64(max(r.Ore.Rows, 1)),
		BigQueryBytesPerEvent: r.Sizes.BigQueryBytesPerEvent,
		PostgresBytesPerEvent: r.Sizes.PostgresBytesPerEvent,
		SQSSendPerEvent:       float64(sqs["SendMessageBatch"].Requests) / ev,
		SQSReceivePerEvent:    float64(sqs["ReceiveMessage"].Requests) / ev,
		SQSDeletePerEvent:     float64(sqs["DeleteMessageBatch"].Requests) / ev,
		OreBatchFixedMs:       r.Ore.FixedMs,
		OreMsPerEvent:         r.Ore.MsPerEvent,
		OreEventsPerBatch:     float64(r.Ore.Rows) / float64(max(r.Ore.Batches, 1)),
		GCSListsPerRun:        float64(gcs[gcsList].Requests) / float64(max(r.Masora.Runs, 1)),
		GCSReadsPerObject:     float64(gcs[gcsRead].Requests+gcs[gcsGet].Requests) / float64(max(r.Masora.Objects, 1)),
	}
	if q := bq[bqJobInsert].Requests; q > 0 {
		f.BigQueryTablesPerQuery = float64(bq[bqTableInsert].Requests) / float64(q)
	}
	for _, p := range r.Processes {
		switch {
		case p.Ours && strings.HasPrefix(p.Name, "Ore"):
			f.OreCPUMsPerBatch = p.CPUSeconds * 1000 / float64(max(r.Ore.Batches, 1))
			f.OrePeakMiB = p.HWMMiB
		case p.Ours:
			f.MasoraCPUSecondsPerMillion = p.CPUSeconds / ev * 1e6
		}
	}
	// A run of each log type that finds nothing costs the empty run's time
	// (both log types run side by side, so each is charged its share);
	// the loading runs' time beyond that and beyond their BigQuery calls
	// (the emulator's) is per event.
	f.MasoraRunFixedSeconds = r.Masora.EmptyRunSeconds / float64(f.LogTypes)
	var bqSeconds float64
	for _, s := range bq {
		bqSeconds += s.Seconds
	}
	if own := r.Masora.RunSeconds - bqSeconds - float64(r.Masora.Loading)*f.MasoraRunFixedSeconds; own > 0 {
		f.MasoraSecondsPerEvent = own / ev
	}
	return f
}

// Write prints the report for a person.
func (r *Report) Write(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "Load run %s → %s (seed %d)\n", r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339), c.Seed)
	fmt.Fprintf(w, "  config: %g events/s for %s, Ore window %s, Masora every %s, MASORA_CHUNK_FILES=%d, visibility %s\n",
		c.Rate, c.Duration, c.Window, c.Cadence, r.ChunkFiles, c.QueueVisibility())
	fmt.Fprintf(w, "  machine load average before: %s, after: %s (1, 5, 15 min; 2 cores)\n", r.LoadBefore, r.LoadAfter)
	fmt.Fprintf(w, "  published %d events (%d distinct) in %.1fs: %.0f/s, %.0f bytes each\n",
		r.Published.Events, r.Published.Distinct, r.Published.Seconds, r.Published.PerSec, float64(r.Published.BodyBytes)/float64(max(r.Published.Events, 1)))
	fmt.Fprintf(w, "  invariants: %s\n\n", r.Invariant)

	fmt.Fprintf(w, "Freshness, seconds (%d rows without an object, %d commits timed by their run's end)\n", r.Unattributed, r.CommitNotSeen)
	fmt.Fprintf(w, "  %-68s %8s %8s %8s\n", "stage", "p50", "p95", "max")
	for _, s := range r.Stages {
		fmt.Fprintf(w, "  %-68s %8.2f %8.2f %8.2f\n", s.Stage, s.P50, s.P95, s.Max)
	}
	fmt.Fprintf(w, "\nThroughput (events over the span from a stage's first to its last)\n")
	for _, s := range r.Rates {
		fmt.Fprintf(w, "  %-28s %8d events in %7.1fs: %8.0f/s\n", s.Stage, s.Events, s.Seconds, s.PerSec)
	}
	o := r.Ore
	fmt.Fprintf(w, "  Ore: %d batches, %d rows, %d files, %.1f MB parquet; busy %.1fs; batch time ≈ %.1f ms + %.4f ms/event; poller: %v\n",
		o.Batches, o.Rows, o.Files, float64(o.Bytes)/1e6, o.BusyMs/1000, o.FixedMs, o.MsPerEvent, o.Stopped)
	m := r.Masora
	fmt.Fprintf(w, "  Masora: %d triggers (%d answered 409), %d log-type runs (%d loading), %d rows, %d objects, %d chunks, loading runs %.1fs, empty run %.2fs\n",
		m.Triggers, m.Conflicts, m.Runs, m.Loading, m.Rows, m.Objects, m.Chunks, m.RunSeconds, m.EmptyRunSeconds)

	fmt.Fprintf(w, "\nFloors (same run, same machine)\n")
	cf := r.CopyFloor
	fmt.Fprintf(w, "  Masora load vs raw CopyFrom of %d rows: %.0f vs %.0f rows/s = %.2f of the floor; without its BigQuery calls (the emulator's time) %.0f rows/s = %.2f\n",
		cf.Rows, cf.MasoraPerSec, cf.FloorPerSec, cf.RatioToFloor, cf.MasoraOwnPerSec, cf.OwnRatioToFloor)
	for i, d := range r.DrainFloor {
		fmt.Fprintf(w, "  drain %d: %d messages, Ore poll mode %.0f/s vs receive-and-delete loop %.0f/s = %.2f of the floor\n",
			i+1, d.Messages, d.OrePerSec, d.FloorPerSec, d.RatioToFloor)
	}

	fmt.Fprintf(w, "\nProcesses (memory: VmHWM of the process; group: peak sampled RSS of all its processes)\n")
	fmt.Fprintf(w, "  %-34s %6s %10s %10s %9s %7s\n", "process", "ours", "VmHWM MiB", "group MiB", "CPU s", "cores")
	for _, p := range r.Processes {
		fmt.Fprintf(w, "  %-34s %6t %10.1f %10.1f %9.1f %7.2f\n", p.Name, p.Ours, p.HWMMiB, p.PeakGroupMiB, p.CPUSeconds, p.Utilization)
	}
	fmt.Fprintf(w, "\nRequests through the proxies\n")
	for _, svc := range slices.Sorted(maps.Keys(r.Traffic)) {
		for _, op := range slices.Sorted(maps.Keys(r.Traffic[svc])) {
			s := r.Traffic[svc][op]
			fmt.Fprintf(w, "  %-16s %-24s %8d requests %10.1f kB in %10.1f kB out %8.1fs\n", svc, op, s.Requests, float64(s.BytesIn)/1e3, float64(s.BytesOut)/1e3, s.Seconds)
		}
	}
	fmt.Fprintf(w, "\nBusiest components (share of their ceiling over the %.0fs the pipeline ran)\n", r.ActiveSeconds)
	for i, u := range r.Bottlenecks {
		who := "emulator/stack"
		if u.Ours {
			who = "ours"
		}
		fmt.Fprintf(w, "  %d. %-34s %-14s %5.0f%%  %s\n", i+1, u.Component, who, 100*u.Share, u.Basis)
	}
}
