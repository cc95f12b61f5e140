package bqreadtest_test

import (
	"errors"
	"math/big"
	"sort"
	"testing"

	"cloud.google.com/go/bigquery"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/ore-masora/pipeline/libs/testkit/bqreadtest"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
)

// TestTypes reads one query result with the supported scalar types but
// BYTES (the emulator's tabledata.list hands the destination table's BYTES
// back as their base64 text, unlike its getQueryResults), NULLs included, through jobs.getQueryResults and through the server, and
// compares the values the client returns.
func TestTypes(t *testing.T) {
	env := stacktest.Load(t)
	plain, err := bigquery.NewClient(t.Context(), env.BigQueryProject, option.WithEndpoint(env.BigQueryEndpoint), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { plain.Close() })
	srv := bqreadtest.New(t, bqreadtest.Options{Source: plain, Streams: 2, BatchRows: 1})
	storage := srv.Client(t, env.BigQueryProject, env.BigQueryEndpoint)
	const q = `SELECT * FROM UNNEST([
	  STRUCT(1 AS k, 'a' AS s, 1 AS i, 1.5 AS f, TRUE AS b, TIMESTAMP '2024-05-01 10:00:00.123456 UTC' AS ts,
	         DATE '2024-05-01' AS d, NUMERIC '12.345678901' AS n),
	  STRUCT(2, CAST(NULL AS STRING), CAST(NULL AS INT64), CAST(NULL AS FLOAT64), CAST(NULL AS BOOL),
	         CAST(NULL AS TIMESTAMP), CAST(NULL AS DATE), CAST(NULL AS NUMERIC)),
	  STRUCT(3, '日本 "q"', -9007199254740993, -0.1, FALSE, TIMESTAMP '1969-12-31 23:59:59.999999 UTC',
	         DATE '1900-01-01', NUMERIC '-0.000000001')])`
	read := func(c *bigquery.Client, wantStorage bool) [][]bigquery.Value {
		job, err := c.Query(q).Run(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		it, err := job.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if it.IsAccelerated() != wantStorage {
			t.Fatalf("RowIterator.IsAccelerated() = %v, want %v", it.IsAccelerated(), wantStorage)
		}
		var rows [][]bigquery.Value
		for {
			var row []bigquery.Value
			err := it.Next(&row)
			if errors.Is(err, iterator.Done) {
				return rows
			}
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, row)
		}
	}
	pages, got := read(plain, false), read(storage, true)
	if len(pages) != 3 {
		t.Fatalf("pages: %d rows, want 3", len(pages))
	}
	// The streams are read in parallel: order the rows by k.
	for _, rows := range [][][]bigquery.Value{pages, got} {
		sort.Slice(rows, func(i, j int) bool { return rows[i][0].(int64) < rows[j][0].(int64) })
	}
	ratEqual := cmp.Comparer(func(a, b *big.Rat) bool { return (a == nil) == (b == nil) && (a == nil || a.Cmp(b) == 0) })
	if diff := cmp.Diff(pages, got, ratEqual); diff != "" {
		t.Errorf("Storage Read rows differ (-pages +storage):\n%s", diff)
	}
	if st := srv.Stats(); st.Rows != 3 || st.Streams != 2 {
		t.Errorf("server stats %+v, want 3 rows over 2 streams", st)
	}
}
