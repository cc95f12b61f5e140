package warehouse_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"cloud.google.com/go/bigquery"

	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/warehouse"
)

// BenchmarkReadPaths reads one transform result of benchReadRows user_action
// rows through the BigQuery client both ways, alternating within each
// iteration so that both see the same machine load:
//
//	go test -run '^$' -bench ReadPaths -benchtime 5x -count 3 ./internal/warehouse/
//
// pages-rows/s is jobs.getQueryResults from the bigquery-emulator;
// storage-rows/s the Storage Read API (Arrow, 4 streams) from a bqreadtest
// server, which has the result table in memory after a warm-up read.
// Both include the client's decoding into []bigquery.Value and Masora's
// Rows.Next; neither includes the query.
func BenchmarkReadPaths(b *testing.B) {
	const benchReadRows = 10_000 // the emulator fails on results over ~250k rows
	s := masoratest.New(b)
	p := newReadPaths(b, s, 4)
	uris := writeChunk(b, s, variedUserActions(benchReadRows, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)), 2500)
	pagesRes, err := p.pages.Transform(b.Context(), "user_action", "pages", uris)
	if err != nil {
		b.Fatal(err)
	}
	storageRes, err := p.storage.Transform(b.Context(), "user_action", "storage", uris)
	if err != nil {
		b.Fatal(err)
	}
	// read returns how long opening the result (Result.Read: jobs.getQueryResults
	// to wait, and for the Storage Read API jobs.get, tables.get and
	// CreateReadSession) and streaming its rows (Rows.Next) took.
	read := func(res *warehouse.Result, storage bool) (open, stream time.Duration) {
		start := time.Now()
		rows, err := res.Read(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if rows.StorageRead() != storage {
			b.Fatalf("Rows.StorageRead() = %v, want %v", rows.StorageRead(), storage)
		}
		opened := time.Now()
		n := 0
		var row []bigquery.Value
		for ; ; n++ {
			err := rows.Next(&row)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if n != benchReadRows {
			b.Fatalf("read %d rows, want %d", n, benchReadRows)
		}
		return opened.Sub(start), time.Since(opened)
	}
	read(pagesRes, false) // warm-up: the server loads the table, the emulator its result
	read(storageRes, true)
	var pages, storage [2]time.Duration // open, stream
	add := func(d *[2]time.Duration, res *warehouse.Result, storage bool) {
		open, stream := read(res, storage)
		d[0] += open
		d[1] += stream
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			add(&pages, pagesRes, false)
			add(&storage, storageRes, true)
		} else {
			add(&storage, storageRes, true)
			add(&pages, pagesRes, false)
		}
	}
	rows := float64(benchReadRows * b.N)
	b.ReportMetric(rows/(pages[0]+pages[1]).Seconds(), "pages-rows/s")
	b.ReportMetric(rows/(storage[0]+storage[1]).Seconds(), "storage-rows/s")
	b.ReportMetric(rows/pages[1].Seconds(), "pages-stream-rows/s")
	b.ReportMetric(rows/storage[1].Seconds(), "storage-stream-rows/s")
	b.ReportMetric(pages[0].Seconds()/float64(b.N), "pages-open-s")
	b.ReportMetric(storage[0].Seconds()/float64(b.N), "storage-open-s")
	b.ReportMetric(float64(p.server.Stats().TableLoads), "table-loads")
	b.ReportMetric(0, "ns/op")
}
