package cost_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ore-masora/pipeline/tools/internal/load/cost"
)

func figures(t *testing.T) cost.Figures {
	t.Helper()
	f, err := cost.ReadFigures(filepath.Join("testdata", "figures.json"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// lines returns a bill's lines as item → USD a month.
func lines(b cost.Bill) map[string]float64 {
	out := map[string]float64{}
	for _, l := range b.Lines {
		out[l.Item] = l.USD
	}
	return out
}

// The expectations below are worked by hand from testdata/figures.json,
// DefaultDeployment and the prices, written as the arithmetic that gives
// them.
func TestOurs(t *testing.T) {
	const (
		month   = 30 * 24 * 3600
		idle    = 5 * 3 * month / 60 // 648,000 empty receives
		mb10    = 10 << 20
		tib     = 1 << 40
		runCost = 0.000024 + 0.0000025 // 1 vCPU + 1 GiB a second
		sqlBase = 720 * (0.0413 + 3.75*0.007)
	)
	tests := []struct {
		name string
		s    cost.Scenario
		want map[string]float64
	}{
		{
			// 1,000 events/s, 5 s window: batches of 5,000 (518,400 a month),
			// both log types in every batch: 1,036,800 files, 720 an hour per
			// log type; 720 runs of 720 files per log type = 8 chunks of 100:
			// 11,520 queries of 2.592e9*400/11,520 = 90 MB each.
			name: "1000/s hourly 5s",
			s:    cost.Scenario{Events: 1000 * month, CadenceSeconds: 3600, WindowSeconds: 5},
			want: map[string]float64{
				cost.ItemSQS:      (1000*month*0.4 + idle) * 0.4e-6,
				cost.ItemLambda:   518400*0.2e-6 + 518400*0.100*1*0.0000133334,
				cost.ItemGCSOps:   (1036800+720*2*1)*0.005e-3 + 1036800*3*0.0004e-3,
				cost.ItemGCSStore: 1000 * month * 100.0 / (1 << 30) * 0.020,
				cost.ItemBigQuery: 11520 * 90e6 / tib * 6.25,
				cost.ItemCloudRun: (720*2*0.5+11520*2+1000*month*1e-5)*runCost + 720*0.4e-6,
				cost.ItemCloudSQL: sqlBase + 1000*month*1000.0/(1<<30)*0.17,
			},
		},
		{
			// 1 event/s, 5 s window, every minute: batches of 5 events
			// (518,400), 2*(1-0.5^5) = 1.9375 log types each: 1,004,400
			// files; 43,200 runs of 11.6 files per log type: one query per
			// run and log type (86,400), each billed the 10 MB minimum.
			name: "1/s every minute 5s",
			s:    cost.Scenario{Events: month, CadenceSeconds: 60, WindowSeconds: 5},
			want: map[string]float64{
				cost.ItemSQS:      (month*0.4 + idle) * 0.4e-6,
				cost.ItemLambda:   518400*0.2e-6 + 518400*0.05005*1*0.0000133334,
				cost.ItemGCSOps:   (1004400+43200*2*1)*0.005e-3 + 1004400*3*0.0004e-3,
				cost.ItemGCSStore: month * 100.0 / (1 << 30) * 0.020,
				cost.ItemBigQuery: 86400.0 * mb10 / tib * 6.25,
				cost.ItemCloudRun: (43200*2*0.5+86400*2+month*1e-5)*runCost + 43200*0.4e-6,
				cost.ItemCloudSQL: sqlBase + month*1000.0/(1<<30)*0.17,
			},
		},
		{
			// 1 event every 100 s: each event is a batch of its own; 0.3
			// files of a log type per 1-minute run, so 30 % of the runs of
			// a log type query (25,920 queries, each the 10 MB minimum).
			name: "0.01/s every minute 5s",
			s:    cost.Scenario{Events: month / 100, CadenceSeconds: 60, WindowSeconds: 5},
			want: map[string]float64{
				cost.ItemSQS:      (month/100*0.4 + idle) * 0.4e-6,
				cost.ItemLambda:   25920*0.2e-6 + 25920*0.05001*1*0.0000133334,
				cost.ItemGCSOps:   (25920+43200*2*1)*0.005e-3 + 25920*3*0.0004e-3,
				cost.ItemGCSStore: month / 100 * 100.0 / (1 << 30) * 0.020,
				cost.ItemBigQuery: 25920.0 * mb10 / tib * 6.25,
				cost.ItemCloudRun: (43200*2*0.5+25920*2+month/100*1e-5)*runCost + 43200*0.4e-6,
				cost.ItemCloudSQL: sqlBase + month/100*1000.0/(1<<30)*0.17,
			},
		},
	}
	f := figures(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := lines(cost.Ours(f, cost.DefaultDeployment, tc.s))
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateApprox(1e-9, 0)); diff != "" {
				t.Errorf("Ours lines, USD a month (-want +got):\n%s", diff)
			}
		})
	}
}

func TestManaged(t *testing.T) {
	const month = 30 * 24 * 3600
	f := figures(t)
	got := lines(cost.Managed(f, cost.DefaultDeployment, cost.Scenario{Events: 1000 * month}, 60))
	// 600-byte events: one Pipes request each, billed by Firehose as 5 KB;
	// 2 streams × 43,200 one-minute buffers (each well under 128 MB).
	billedGB := 1000 * month * 5120.0 / (1 << 30)
	want := map[string]float64{
		cost.ItemSQS:       (1000*month*0.1 + 2*1000*month/10 + 5*3*month/60) * 0.4e-6,
		cost.ItemPipes:     1000 * month * 0.4e-6,
		cost.ItemFirehose:  billedGB * 0.029,
		cost.ItemConvert:   billedGB * 0.018,
		cost.ItemS3Puts:    2 * 43200 * 0.005e-3,
		cost.ItemS3Storage: 1000 * month * 100.0 / (1 << 30) * 0.023,
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateApprox(1e-9, 0)); diff != "" {
		t.Errorf("Managed lines, USD a month (-want +got):\n%s", diff)
	}
}

func TestRecommendPrefersLongerWindowsAtLowVolume(t *testing.T) {
	f := figures(t)
	recs := cost.Recommend(f, cost.DefaultDeployment, []float64{0.5, 2000})
	got := map[float64][2]float64{}
	for _, r := range recs {
		got[r.Rate] = [2]float64{r.Hourly, r.Fresh}
		if math.IsInf(r.HourlyUSD, 0) || math.IsInf(r.FreshUSD, 0) {
			t.Errorf("rate %g: no window priced: %+v", r.Rate, r)
		}
	}
	// At 0.5 events/s every window adds files: the longest allowed wins.
	// At 2,000/s a batch fills its 6 MB in about 5 s whatever the window,
	// so the shortest (freshest) window costs the same and is kept.
	want := map[float64][2]float64{0.5: {300, 30}, 2000: {5, 5}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recommended windows [hourly, fresh] (-want +got):\n%s", diff)
	}
}

func TestReadFiguresRefusesUnknownFields(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	if err := cost.WriteFigures(path, figures(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := cost.ReadFigures(path); err != nil {
		t.Fatalf("reading what WriteFigures wrote: %v", err)
	}
	bad := filepath.Join("testdata", "unknown-field.json")
	if _, err := cost.ReadFigures(bad); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("ReadFigures(%s) = %v, want an unknown field error", bad, err)
	}
}

func TestWriteComparisonNamesEveryLine(t *testing.T) {
	var b strings.Builder
	cost.WriteComparison(&b, figures(t), cost.DefaultDeployment, 1e9, 5)
	for _, item := range []string{cost.ItemSQS, cost.ItemLambda, cost.ItemBigQuery, cost.ItemFirehose, cost.ItemConvert, "queue → parquet files", "total"} {
		if !strings.Contains(b.String(), item) {
			t.Errorf("comparison lacks %q:\n%s", item, b.String())
		}
	}
}
