package load

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/jackc/pgx/v5"
	"google.golang.org/api/iterator"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/schema"
)

// The stages of an event's way from its publication to its row being
// visible in Postgres, as Report.Stages names them.
const (
	StageQueue  = "queue wait (publish → Ore's received_at)"
	StageOre    = "Ore (received_at → object created in GCS)"
	StagePickup = "pick-up (object created → the Masora run that loads it starts)"
	StageLoad   = "load (run start → its chunk's transaction, loaded_at)"
	StageCommit = "commit (loaded_at → row visible to a reader)"
	StageTotal  = "total (publish → row visible)"
)

var stageOrder = []string{StageQueue, StageOre, StagePickup, StageLoad, StageCommit, StageTotal}

// Latency is the distribution of one stage over every event, in seconds.
type Latency struct {
	Stage  string  `json:"stage"`
	Events int     `json:"events"`
	P50    float64 `json:"p50_s"`
	P95    float64 `json:"p95_s"`
	Max    float64 `json:"max_s"`
}

// StageRate is how fast events went through a stage: the events it
// finished over the time between its first and its last.
type StageRate struct {
	Stage   string  `json:"stage"`
	Events  int     `json:"events"`
	Seconds float64 `json:"seconds"`
	PerSec  float64 `json:"per_second"`
}

// timeline holds what the run recorded while it went, for the analysis.
type timeline struct {
	// sentAt is the publish time per event id (lower case).
	sentAt map[string]time.Time
	// visible is when a reader first saw each chunk transaction's loaded_at
	// (µs since the epoch) in masora_manifest.
	visible map[int64]time.Time
}

// freshness is the outcome of the analysis.
type freshness struct {
	stages []Latency
	rates  []StageRate
	// unattributed counts rows whose object could not be found (the
	// object's name did not match its rows' message ids: rows of a
	// redelivered message loaded from another object); notSeen the rows
	// whose commit the poller missed (their run's end is used).
	unattributed, notSeen int
}

// object is a data object of the bucket.
type object struct {
	created time.Time
	runID   int64
}

// analyse reads every row's received_at and loaded_at, the bucket's
// objects and the manifest, and works out each event's stages.
func analyse(ctx context.Context, db *pgx.Conn, bucket *storage.BucketHandle, prefix string, reg *schema.Registry, tl timeline) (freshness, error) {
	objects, err := listObjects(ctx, bucket, prefix, reg)
	if err != nil {
		return freshness{}, err
	}
	runStart, runEnd, err := readRuns(ctx, db, prefix, objects)
	if err != nil {
		return freshness{}, err
	}
	var fr freshness
	samples := map[string][]float64{}
	var sent, created, seen []time.Time
	for _, name := range reg.Names() {
		lt, err := reg.Latest(name)
		if err != nil {
			return freshness{}, err
		}
		type row struct {
			id, msg            string
			received, loadedAt time.Time
		}
		rows, err := db.Query(ctx, "SELECT event_id::text, message_id, received_at, loaded_at FROM "+pgx.Identifier{lt.Table}.Sanitize())
		if err != nil {
			return freshness{}, fmt.Errorf("read %s: %w", lt.Table, err)
		}
		all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.id, &x.msg, &x.received, &x.loadedAt)
			return x, err
		})
		if err != nil {
			return freshness{}, fmt.Errorf("read %s: %w", lt.Table, err)
		}
		// The rows of one object share their batch's received_at, and the
		// object is named for their message ids (layout.Name).
		byBatch := map[int64][]string{}
		for _, r := range all {
			byBatch[r.received.UnixMicro()] = append(byBatch[r.received.UnixMicro()], r.msg)
		}
		objectOf := map[int64]object{}
		for at, ids := range byBatch {
			if o, ok := objects[layout.Name(ids)]; ok {
				objectOf[at] = o
			}
		}
		for _, r := range all {
			pub, ok := tl.sentAt[strings.ToLower(r.id)]
			if !ok {
				continue // not published by this run: the invariant checker reports it
			}
			o, ok := objectOf[r.received.UnixMicro()]
			if !ok {
				fr.unattributed++
				continue
			}
			vis, ok := tl.visible[r.loadedAt.UnixMicro()]
			if !ok {
				fr.notSeen++
				vis = runEnd[o.runID]
			}
			start := runStart[o.runID]
			add := func(stage string, from, to time.Time) {
				samples[stage] = append(samples[stage], to.Sub(from).Seconds())
			}
			add(StageQueue, pub, r.received)
			add(StageOre, r.received, o.created)
			add(StagePickup, o.created, start)
			add(StageLoad, start, r.loadedAt)
			add(StageCommit, r.loadedAt, vis)
			add(StageTotal, pub, vis)
			sent, created, seen = append(sent, pub), append(created, o.created), append(seen, vis)
		}
	}
	for _, st := range stageOrder {
		fr.stages = append(fr.stages, summarise(st, samples[st]))
	}
	fr.rates = []StageRate{rate("published", sent), rate("written to GCS by Ore", created), rate("visible in Postgres", seen)}
	return fr, nil
}

// summarise returns the p50, p95 and max of xs.
func summarise(stage string, xs []float64) Latency {
	l := Latency{Stage: stage, Events: len(xs)}
	if len(xs) == 0 {
		return l
	}
	s := slices.Sorted(slices.Values(xs))
	at := func(q float64) float64 { return s[min(len(s)-1, int(q*float64(len(s))))] }
	l.P50, l.P95, l.Max = at(0.50), at(0.95), s[len(s)-1]
	return l
}

// rate returns the events of a stage over the span of their times.
func rate(stage string, ts []time.Time) StageRate {
	r := StageRate{Stage: stage, Events: len(ts)}
	if len(ts) < 2 {
		return r
	}
	first, last := slices.MinFunc(ts, time.Time.Compare), slices.MaxFunc(ts, time.Time.Compare)
	r.Seconds = last.Sub(first).Seconds()
	if r.Seconds > 0 {
		r.PerSec = float64(len(ts)) / r.Seconds
	}
	return r
}

// listObjects returns the bucket's data objects by layout name, with their
// creation time.
func listObjects(ctx context.Context, bucket *storage.BucketHandle, prefix string, reg *schema.Registry) (map[string]object, error) {
	out := map[string]object{}
	for _, name := range reg.Names() {
		it := bucket.Objects(ctx, &storage.Query{Prefix: layout.LogTypePrefix(prefix, name)})
		for {
			attrs, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", layout.LogTypePrefix(prefix, name), err)
			}
			o, err := layout.Parse(prefix, attrs.Name)
			if err != nil || o.Kind != layout.Data {
				continue
			}
			out[o.Name] = object{created: attrs.Created}
		}
	}
	return out, nil
}

// readRuns fills the run of every object from the manifest, and returns
// when each run started and ended.
func readRuns(ctx context.Context, db *pgx.Conn, prefix string, objects map[string]object) (start, end map[int64]time.Time, err error) {
	rows, err := db.Query(ctx, `SELECT object_name, run_id FROM masora_manifest`)
	if err != nil {
		return nil, nil, fmt.Errorf("read masora_manifest: %w", err)
	}
	var name string
	var runID int64
	if _, err := pgx.ForEachRow(rows, []any{&name, &runID}, func() error {
		p, err := layout.Parse(prefix, name)
		if err != nil {
			return fmt.Errorf("manifest entry %s: %w", name, err)
		}
		if o, ok := objects[p.Name]; ok {
			o.runID = runID
			objects[p.Name] = o
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("read masora_manifest: %w", err)
	}
	start, end = map[int64]time.Time{}, map[int64]time.Time{}
	rows, err = db.Query(ctx, `SELECT run_id, started_at, coalesce(finished_at, now()) FROM masora_runs`)
	if err != nil {
		return nil, nil, fmt.Errorf("read masora_runs: %w", err)
	}
	var s, e time.Time
	if _, err := pgx.ForEachRow(rows, []any{&runID, &s, &e}, func() error {
		start[runID], end[runID] = s, e
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("read masora_runs: %w", err)
	}
	return start, end, nil
}
