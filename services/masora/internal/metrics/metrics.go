// Package metrics owns Masora's Prometheus metrics, on a registry of its own
// that /metrics serves.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the counters and gauges Masora updates.
type Metrics struct {
	// Registry holds every metric below plus the Go and process collectors.
	Registry *prometheus.Registry

	// Runs counts finished runs by log type and status (succeeded, failed).
	Runs *prometheus.CounterVec
	// Busy counts triggers refused because a run of the log type was going on.
	Busy prometheus.Counter
	// Objects counts parquet objects by log type and outcome (loaded, failed).
	Objects *prometheus.CounterVec
	// Rows counts rows inserted into the row tables, by log type.
	Rows *prometheus.CounterVec
	// Duplicates counts result rows skipped because their event_id was
	// already loaded, by log type.
	Duplicates *prometheus.CounterVec
	// Chunks counts committed chunks by log type and path (direct, staged).
	Chunks *prometheus.CounterVec
	// ChunkSeconds observes the time to transform and load a chunk.
	ChunkSeconds *prometheus.HistogramVec
	// LastSuccess is the Unix time of the last successful run, by log type.
	LastSuccess *prometheus.GaugeVec
	// Requests counts HTTP requests by route and status code.
	Requests *prometheus.CounterVec
	// PagedReads counts chunk results read as pages although the Storage
	// Read API is on (the client could not open a read session), by log type.
	PagedReads *prometheus.CounterVec
	// Quarantined counts quarantined messages loaded into
	// quarantined_messages (each message id once), by reason kind. The
	// quarantine pass's objects, rows, duplicates, chunks and runs are in
	// the metrics above under the log type "_quarantine".
	Quarantined *prometheus.CounterVec
}

// New creates the metrics on a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "masora_runs_total", Help: "Finished runs by log type and status.",
		}, []string{"log_type", "status"}),
		Busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "masora_runs_busy_total", Help: "Triggers refused because a run of the same log type was in progress.",
		}),
		Objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "masora_objects_total", Help: "Parquet objects by log type and outcome (loaded, failed).",
		}, []string{"log_type", "outcome"}),
		Rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "masora_rows_loaded_total", Help: "Rows inserted into the row tables.",
		}, []string{"log_type"}),
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "masora_duplicates_skipped_total", Help: "Result rows skipped because their event_id was already loaded.",
		}, []string{"log_type"}),
		Chunks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "masora_chunks_total", Help: "Committed chunks by log type and path (direct copy, or staged because of earlier rows).",
		}, []string{"log_type", "path"}),
		ChunkSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "masora_chunk_duration_seconds", Help: "Time to transform and load one chunk.",
			Buckets: prometheus.ExponentialBuckets(0.5, 2, 12),
		}, []string{"log_type"}),
		LastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "masora_last_success_timestamp_seconds", Help: "Unix time of the last successful run.",
		}, []string{"log_type"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "masora_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		PagedReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "masora_storage_read_fallbacks_total", Help: "Chunk results read as pages although the Storage Read API is on.",
		}, []string{"log_type"}),
		Quarantined: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "masora_quarantined_messages_total", Help: "Quarantined messages loaded into quarantined_messages, each message id once, by reason kind.",
		}, []string{"reason_kind"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Runs, m.Busy, m.Objects, m.Rows, m.Duplicates, m.Chunks, m.ChunkSeconds, m.LastSuccess, m.Requests, m.PagedReads,
		m.Quarantined,
	)
	return m
}
