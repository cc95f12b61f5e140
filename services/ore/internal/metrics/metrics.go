// Package metrics writes Ore's per-batch counters as CloudWatch Embedded
// Metric Format (EMF) lines: JSON log lines that CloudWatch Logs turns into
// metrics, with no API call from the function.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of Ore's metrics.
const Namespace = "Ore"

// Batch holds the counters of one handled batch.
type Batch struct {
	// Messages is the number of messages in the batch.
	Messages int
	// FilesWritten counts the parquet files created.
	FilesWritten int
	// FilesExisting counts the parquet files found already written by an
	// earlier delivery of the same messages.
	FilesExisting int
	// Bytes is the size of the objects created, quarantine included.
	Bytes int64
	// Rows is the number of rows in the files written or found.
	Rows int
	// Quarantined counts the bad messages written to quarantine.
	Quarantined int
	// Failed counts the messages returned as batch item failures.
	Failed int
	// Duration is how long the batch took.
	Duration time.Duration
}

// Emitter writes one EMF line per batch. It is safe for concurrent use.
type Emitter struct {
	mu      sync.Mutex
	w       io.Writer
	service string
	now     func() time.Time
}

// New returns an emitter writing to w (stdout in Lambda) with the dimension
// Service=service.
func New(w io.Writer, service string) *Emitter {
	return &Emitter{w: w, service: service, now: time.Now}
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type meta struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

type line struct {
	AWS           meta    `json:"_aws"`
	Service       string  `json:"Service"`
	Messages      int     `json:"Messages"`
	FilesWritten  int     `json:"FilesWritten"`
	FilesExisting int     `json:"FilesExisting"`
	Bytes         int64   `json:"Bytes"`
	Rows          int     `json:"Rows"`
	Quarantined   int     `json:"Quarantined"`
	Failed        int     `json:"Failed"`
	DurationMs    float64 `json:"DurationMs"`
}

var definitions = []metricDef{
	{"Messages", "Count"},
	{"FilesWritten", "Count"},
	{"FilesExisting", "Count"},
	{"Bytes", "Bytes"},
	{"Rows", "Count"},
	{"Quarantined", "Count"},
	{"Failed", "Count"},
	{"DurationMs", "Milliseconds"},
}

// Emit writes b as one EMF line.
func (e *Emitter) Emit(b Batch) error {
	l := line{
		AWS: meta{
			Timestamp: e.now().UnixMilli(),
			CloudWatchMetrics: []directive{{
				Namespace:  Namespace,
				Dimensions: [][]string{{"Service"}},
				Metrics:    definitions,
			}},
		},
		Service:       e.service,
		Messages:      b.Messages,
		FilesWritten:  b.FilesWritten,
		FilesExisting: b.FilesExisting,
		Bytes:         b.Bytes,
		Rows:          b.Rows,
		Quarantined:   b.Quarantined,
		Failed:        b.Failed,
		DurationMs:    float64(b.Duration.Microseconds()) / 1000,
	}
	buf, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("encode EMF line: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, err := e.w.Write(append(buf, '\n')); err != nil {
		return fmt.Errorf("write EMF line: %w", err)
	}
	return nil
}
