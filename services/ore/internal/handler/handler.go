// Package handler is Ore's batch handler: it takes an SQS batch, groups the
// messages by log type, validates and decodes each one, writes one parquet
// file per log type to the object store, quarantines the bad messages, and
// answers which messages must be retried. Lambda mode and poll mode call the
// same Handle.
package handler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/parquet-go/parquet-go/compress"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/parquetrow"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/ore/internal/metrics"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore"
)

// Content types of the objects Ore writes.
const (
	ContentTypeParquet = "application/vnd.apache.parquet"
	ContentTypeJSONL   = "application/x-ndjson"
)

// deadlineMargin is the time kept back from the invocation's deadline so the
// handler can still answer which messages failed.
const deadlineMargin = 500 * time.Millisecond

// Options configure a Handler.
type Options struct {
	// Registry holds the log type definitions; each message is decoded with
	// the newest version of its log type. Required.
	Registry *schema.Registry
	// Store receives the parquet and quarantine objects. Required.
	Store objstore.Store
	// Prefix is the object name prefix (layout's <prefix>).
	Prefix string
	// WriterVersion is recorded in every row and file.
	WriterVersion string
	// Codec compresses parquet pages; nil means zstd.
	Codec compress.Codec
	// UploadConcurrency bounds the log type groups handled at once; 0 means 4.
	UploadConcurrency int
	// UploadTimeout bounds one object upload, retries included; 0 means 60s.
	UploadTimeout time.Duration
	// Logger receives one line per batch and one per problem; nil discards.
	Logger *slog.Logger
	// Metrics receives one EMF line per batch; nil writes none.
	Metrics *metrics.Emitter
	// Now returns the time a batch is received; nil means time.Now.
	Now func() time.Time
}

// Handler handles SQS batches. It is safe for concurrent use.
type Handler struct {
	opts    Options
	schemas map[string]*parquetrow.Schema
	known   []string
	// events recycles decoded events between batches.
	events sync.Pool
}

// New returns a Handler, or an error naming the missing dependency.
func New(opts Options) (*Handler, error) {
	if opts.Registry == nil {
		return nil, errors.New("handler: a schema registry is required")
	}
	if opts.Store == nil {
		return nil, errors.New("handler: an object store is required")
	}
	if opts.UploadConcurrency <= 0 {
		opts.UploadConcurrency = 4
	}
	if opts.UploadTimeout <= 0 {
		opts.UploadTimeout = 60 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{opts: opts, schemas: map[string]*parquetrow.Schema{}, known: opts.Registry.Names()}
	h.events.New = func() any { return new(schema.Event) }
	for _, name := range h.known {
		lt, err := opts.Registry.Latest(name)
		if err != nil {
			return nil, err
		}
		s, err := parquetrow.New(lt)
		if err != nil {
			return nil, fmt.Errorf("handler: %w", err)
		}
		h.schemas[name] = s
	}
	return h, nil
}

// badMessage is a message that goes to quarantine.
type badMessage struct {
	index   int
	logType string
	kind    quarantine.Kind
	reason  string
}

// groupResult is the outcome of one log type group.
type groupResult struct {
	logType string
	path    string
	rows    int
	bytes   int
	created bool
	// failed holds the indexes of the messages to retry.
	failed []int
	bad    []badMessage
	err    error
}

// Handle handles one batch. It returns an error only when it could do
// nothing at all (the context ended before it started); otherwise every
// message either went into a parquet file or quarantine, or is listed in
// BatchItemFailures so that SQS delivers it again.
func (h *Handler) Handle(ctx context.Context, batch events.SQSEvent) (events.SQSEventResponse, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return events.SQSEventResponse{}, fmt.Errorf("handle batch of %d messages: %w", len(batch.Records), err)
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-deadlineMargin))
		defer cancel()
	}
	receivedAt := h.opts.Now().UTC()
	recs := batch.Records

	groups, bad := h.route(recs)

	results := make([]groupResult, len(groups))
	sem := make(chan struct{}, h.opts.UploadConcurrency)
	var wg sync.WaitGroup
	for i, g := range groups {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = h.writeGroup(ctx, recs, g, receivedAt)
		})
	}
	wg.Wait()

	stats := metrics.Batch{Messages: len(recs)}
	var failed []int
	for _, r := range results {
		bad = append(bad, r.bad...)
		failed = append(failed, r.failed...)
		stats.Rows += r.rows
		switch {
		case r.err != nil:
			h.opts.Logger.ErrorContext(ctx, "writing a log type's file failed; its messages will be retried",
				"log_type", r.logType, "object", r.path, "messages", len(r.failed), "error", r.err)
		case r.created:
			stats.FilesWritten++
			stats.Bytes += int64(r.bytes)
		case r.path != "":
			stats.FilesExisting++
			h.opts.Logger.InfoContext(ctx, "file already written by an earlier delivery of these messages",
				"log_type", r.logType, "object", r.path, "rows", r.rows)
		}
	}

	if len(bad) > 0 {
		n, qfailed := h.quarantine(ctx, recs, bad, receivedAt)
		failed = append(failed, qfailed...)
		stats.Bytes += int64(n)
		if len(qfailed) == 0 {
			stats.Quarantined = len(bad)
		}
	}

	resp := response(recs, failed)
	stats.Failed = len(resp.BatchItemFailures)
	stats.Duration = time.Since(start)
	h.opts.Logger.InfoContext(ctx, "batch handled",
		"batch_size", stats.Messages, "files_written", stats.FilesWritten, "files_existing", stats.FilesExisting,
		"rows", stats.Rows, "bytes", stats.Bytes, "quarantined", stats.Quarantined, "failed", stats.Failed,
		"duration_ms", float64(stats.Duration.Microseconds())/1000, "received_at", receivedAt)
	if h.opts.Metrics != nil {
		if err := h.opts.Metrics.Emit(stats); err != nil {
			h.opts.Logger.WarnContext(ctx, "could not write metrics", "error", err)
		}
	}
	return resp, nil
}

// group is the messages of one log type, by index into the batch.
type group struct {
	schema  *parquetrow.Schema
	indexes []int
}

// route groups the messages by log type and sets aside those that cannot be
// routed. Groups are in log type order.
func (h *Handler) route(recs []events.SQSMessage) ([]group, []badMessage) {
	byName := map[string]*group{}
	var bad []badMessage
	for i := range recs {
		name, kind, reason := h.logTypeOf(&recs[i])
		if reason != "" {
			bad = append(bad, badMessage{index: i, logType: name, kind: kind, reason: reason})
			continue
		}
		g := byName[name]
		if g == nil {
			g = &group{schema: h.schemas[name]}
			byName[name] = g
		}
		g.indexes = append(g.indexes, i)
	}
	groups := make([]group, 0, len(byName))
	for _, name := range h.known {
		if g := byName[name]; g != nil {
			groups = append(groups, *g)
		}
	}
	return groups, bad
}

// logTypeOf returns the message's log type, or the kind of reason and the
// reason it has none that Ore knows: from the log_type message attribute,
// else the body's log_type field.
func (h *Handler) logTypeOf(m *events.SQSMessage) (name string, kind quarantine.Kind, reason string) {
	a, byAttr := m.MessageAttributes[schema.AttributeLogType]
	byAttr = byAttr && a.StringValue != nil
	if byAttr {
		name = *a.StringValue
	}
	if len(m.Body) > schema.MaxBodyBytes {
		return name, quarantine.KindOversize, fmt.Sprintf("body is %d bytes, over the %d byte limit", len(m.Body), schema.MaxBodyBytes)
	}
	if !byAttr {
		n, ok := schema.PeekLogType([]byte(m.Body))
		if !ok {
			return "", quarantine.KindNoLogType, "no log_type message attribute and no log_type string field in the body"
		}
		name = n
	}
	if _, ok := h.schemas[name]; !ok {
		return name, quarantine.KindUnknownLogType, schema.UnknownLogTypeError(name, h.known).Error()
	}
	return name, "", ""
}

// writeGroup decodes a group's messages, writes the valid ones into one
// parquet file and uploads it.
func (h *Handler) writeGroup(ctx context.Context, recs []events.SQSMessage, g group, receivedAt time.Time) groupResult {
	lt := g.schema.LogType()
	res := groupResult{logType: lt.Name}
	var buf bytes.Buffer
	w := parquetrow.NewWriter(&buf, g.schema, parquetrow.WriterOptions{Codec: h.opts.Codec, WriterVersion: h.opts.WriterVersion})
	ev := h.events.Get().(*schema.Event)
	defer h.events.Put(ev)
	ids := make([]string, 0, len(g.indexes))
	valid := make([]int, 0, len(g.indexes))
	lin := parquetrow.Lineage{ReceivedAt: receivedAt, WriterVersion: h.opts.WriterVersion}
	for _, i := range g.indexes {
		m := &recs[i]
		if err := lt.DecodeInto(ev, []byte(m.Body)); err != nil {
			res.bad = append(res.bad, badMessage{index: i, logType: lt.Name, kind: quarantine.KindOf(err), reason: err.Error()})
			continue
		}
		lin.MessageID = m.MessageId
		if err := w.Write(ev, lin); err != nil {
			return h.groupFailed(res, g.indexes, err)
		}
		ids = append(ids, m.MessageId)
		valid = append(valid, i)
	}
	if err := w.Close(); err != nil {
		return h.groupFailed(res, g.indexes, err)
	}
	if len(valid) == 0 {
		return res
	}
	res.rows = len(valid)
	res.path = layout.DataPath(h.opts.Prefix, lt.Name, lt.Version, receivedAt, layout.Name(ids))
	res.bytes = buf.Len()
	uctx, cancel := context.WithTimeout(ctx, h.opts.UploadTimeout)
	defer cancel()
	created, err := h.opts.Store.Create(uctx, res.path, objstore.Object{ContentType: ContentTypeParquet, Data: buf.Bytes(), Key: contentKey(lt.Name, ids)})
	if err != nil {
		res.err = err
		res.failed = valid
		return res
	}
	res.created = created
	return res
}

// groupFailed marks every message of a group whose file could not be built
// for retry, keeping no quarantine entries: they are retried too.
func (h *Handler) groupFailed(res groupResult, indexes []int, err error) groupResult {
	res.err = err
	res.failed = indexes
	res.bad = nil
	return res
}

// quarantine writes the bad messages, with their reasons and original
// bodies, into one JSON lines object. It returns the object's size and, if
// the upload failed, the indexes to retry.
func (h *Handler) quarantine(ctx context.Context, recs []events.SQSMessage, bad []badMessage, receivedAt time.Time) (int, []int) {
	slices.SortFunc(bad, func(a, b badMessage) int { return a.index - b.index })
	var buf bytes.Buffer
	enc := quarantine.NewEncoder(&buf)
	ids := make([]string, len(bad))
	indexes := make([]int, len(bad))
	for k, b := range bad {
		m := &recs[b.index]
		rec := quarantine.Record{
			MessageID:     m.MessageId,
			LogType:       b.logType,
			Reason:        b.reason,
			ReasonKind:    b.kind,
			ReceivedAt:    receivedAt,
			WriterVersion: h.opts.WriterVersion,
		}
		rec.SetBody(m.Body)
		for name, a := range m.MessageAttributes {
			if a.StringValue != nil {
				if rec.Attributes == nil {
					rec.Attributes = map[string]string{}
				}
				rec.Attributes[name] = *a.StringValue
			}
		}
		if err := enc.Encode(&rec); err != nil {
			// Only unencodable values fail, and a record has none; retry
			// rather than lose the message.
			h.opts.Logger.ErrorContext(ctx, "encoding a quarantine record failed; the bad messages will be retried", "error", err)
			return 0, allIndexes(bad)
		}
		ids[k] = m.MessageId
		indexes[k] = b.index
		h.opts.Logger.WarnContext(ctx, "message quarantined",
			"message_id", m.MessageId, "log_type", b.logType, "reason_kind", b.kind, "reason", b.reason, "body_bytes", len(m.Body))
	}
	path := layout.QuarantinePath(h.opts.Prefix, receivedAt, layout.Name(ids))
	uctx, cancel := context.WithTimeout(ctx, h.opts.UploadTimeout)
	defer cancel()
	created, err := h.opts.Store.Create(uctx, path, objstore.Object{ContentType: ContentTypeJSONL, Data: buf.Bytes(), Key: contentKey("_quarantine", ids)})
	if err != nil {
		h.opts.Logger.ErrorContext(ctx, "writing quarantine failed; the bad messages will be retried",
			"object", path, "messages", len(bad), "error", err)
		return 0, indexes
	}
	if !created {
		return 0, nil
	}
	return buf.Len(), nil
}

func allIndexes(bad []badMessage) []int {
	out := make([]int, len(bad))
	for i, b := range bad {
		out[i] = b.index
	}
	return out
}

// response lists the failed messages' ids once each, in batch order. Only
// ids from the batch are ever reported.
func response(recs []events.SQSMessage, failed []int) events.SQSEventResponse {
	slices.Sort(failed)
	resp := events.SQSEventResponse{BatchItemFailures: make([]events.SQSBatchItemFailure, 0, len(failed))}
	seen := make(map[string]bool, len(failed))
	for _, i := range failed {
		id := recs[i].MessageId
		if !seen[id] {
			seen[id] = true
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		}
	}
	return resp
}

// contentKey is what an object's content stands for: its log type (or
// quarantine) and its messages. A redelivered batch writes other bytes (its
// received_at differs) under the same name with the same key, which the
// store reports as already there; another set of messages under that name
// (a 128-bit name collision, or another writer) is a conflict.
func contentKey(kind string, ids []string) string {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	h := sha256.New()
	h.Write([]byte(kind))
	for _, id := range sorted {
		h.Write([]byte{'\n'})
		h.Write([]byte(id))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
