package handler_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/parquet-go/parquet-go"

	"github.com/ore-masora/pipeline/libs/parquetrow"
	"github.com/ore-masora/pipeline/services/ore/internal/handler/handlertest"
	"github.com/ore-masora/pipeline/services/ore/internal/memsample"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/memstore"
)

const benchBatch = 10000

func batchBytes(ev events.SQSEvent) int64 {
	var n int64
	for _, r := range ev.Records {
		n += int64(len(r.Body))
	}
	return n
}

// report adds throughput and peak heap to a benchmark's results.
func report(b *testing.B, s *memsample.Sampler) {
	peak := s.Stop()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(benchBatch*b.N)/secs, "msgs/s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(secs*1000/float64(b.N), "ms/batch")
}

// BenchmarkHandler10k handles a batch of 10,000 realistic (~370-byte) user_action
// messages, writing the parquet file to an in-memory store.
func BenchmarkHandler10k(b *testing.B) {
	store := memstore.New()
	h := newHandler(b, store, nil, nil)
	batch := handlertest.UserActionBatch(benchBatch, now)
	b.SetBytes(batchBytes(batch))
	b.ReportAllocs()
	s := memsample.Start(time.Millisecond)
	for b.Loop() {
		store.Reset()
		resp, err := h.Handle(b.Context(), batch)
		if err != nil || len(resp.BatchItemFailures) != 0 {
			b.Fatalf("Handle = %v, %v", resp, err)
		}
	}
	b.StopTimer()
	report(b, s)
	if len(store.Names()) != 1 {
		b.Fatalf("want one file, got %v", store.Names())
	}
}

// rawUserAction is the struct a hand-written consumer would decode
// user_action bodies into and write with parquet-go.
type rawUserAction struct {
	EventID       string          `json:"event_id" parquet:"event_id"`
	OccurredAt    time.Time       `json:"occurred_at" parquet:"occurred_at,timestamp(microsecond)"`
	Source        string          `json:"source" parquet:"source"`
	Action        string          `json:"action" parquet:"action"`
	Channel       string          `json:"channel" parquet:"channel"`
	UserID        string          `json:"user_id" parquet:"user_id"`
	SessionID     *string         `json:"session_id" parquet:"session_id,optional"`
	ProductID     *string         `json:"product_id" parquet:"product_id,optional"`
	CartID        *string         `json:"cart_id" parquet:"cart_id,optional"`
	OrderID       *string         `json:"order_id" parquet:"order_id,optional"`
	Quantity      *int64          `json:"quantity" parquet:"quantity,optional"`
	AmountCents   *int64          `json:"amount_cents" parquet:"amount_cents,optional"`
	Currency      *string         `json:"currency" parquet:"currency,optional"`
	AppVersion    *string         `json:"app_version" parquet:"app_version,optional"`
	Attributes    json.RawMessage `json:"attributes" parquet:"attributes,optional"`
	ExtraFields   *string         `json:"-" parquet:"extra_fields,optional"`
	MessageID     string          `json:"-" parquet:"message_id"`
	ReceivedAt    time.Time       `json:"-" parquet:"received_at,timestamp(microsecond)"`
	WriterVersion string          `json:"-" parquet:"writer_version"`
}

// BenchmarkRawFloor10k is the floor the handler is measured against: the
// same bodies decoded with encoding/json into a struct and written with
// parquet-go's generic writer (the same zstd codec, page size and data page
// version as Ore), with no validation, grouping or upload.
func BenchmarkRawFloor10k(b *testing.B) {
	batch := handlertest.UserActionBatch(benchBatch, now)
	b.SetBytes(batchBytes(batch))
	b.ReportAllocs()
	codec, err := parquetrow.ParseCodec("zstd")
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]rawUserAction, benchBatch)
	var buf bytes.Buffer
	s := memsample.Start(time.Millisecond)
	for b.Loop() {
		buf.Reset()
		for i, r := range batch.Records {
			rows[i] = rawUserAction{}
			if err := json.Unmarshal([]byte(r.Body), &rows[i]); err != nil {
				b.Fatal(err)
			}
			rows[i].MessageID, rows[i].ReceivedAt, rows[i].WriterVersion = r.MessageId, now, "test"
		}
		w := parquet.NewGenericWriter[rawUserAction](&buf,
			parquet.Compression(codec), parquet.PageBufferSize(1<<20), parquet.DataPageVersion(1))
		if _, err := w.Write(rows); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	report(b, s)
}
