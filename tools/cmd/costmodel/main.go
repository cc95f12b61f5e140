// Command costmodel prints the pipeline's cost per million events at list
// prices, from the figures a load run measured (go run ./tools/cmd/load
// -figures FILE): the comparison of Ore + Masora at an hourly and a
// 1-minute cadence with the managed path (SQS → EventBridge Pipes →
// Firehose with parquet conversion), the batching window's effect, the
// recommended window by volume and the price table with its sources.
//
//	go run ./tools/cmd/costmodel -figures .load/figures.json
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ore-masora/pipeline/tools/internal/load/cost"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "costmodel:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("costmodel", flag.ContinueOnError)
	path := fs.String("figures", ".load/figures.json", "figures file a load run wrote (go run ./tools/cmd/load -figures FILE)")
	volumes := fs.String("volumes", "10e6,1e9,5e9", "monthly volumes to compare, events a month, comma-separated")
	rates := fs.String("rates", "0.1,1,10,100,1000", "rates (events a second) of the window table and the recommendations")
	window := fs.Float64("window", 5, "Ore batching window of the comparison, seconds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := cost.ReadFigures(*path)
	if err != nil {
		return err
	}
	vols, err := numbers(*volumes)
	if err != nil {
		return fmt.Errorf("-volumes: %w", err)
	}
	rs, err := numbers(*rates)
	if err != nil {
		return fmt.Errorf("-rates: %w", err)
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "Figures: %s (load run of %s: %d events at %g/s for %gs, window %gs, cadence %gs)\n\n",
		*path, f.Run.Date, f.Run.Events, f.Run.Rate, f.Run.Seconds, f.Run.WindowSeconds, f.Run.CadenceSecs)
	for _, v := range vols {
		cost.WriteComparison(w, f, cost.DefaultDeployment, v, *window)
	}
	cost.WriteWindows(w, f, cost.DefaultDeployment, rs)
	cost.WriteRecommendations(w, cost.Recommend(f, cost.DefaultDeployment, rs))
	cost.WritePrices(w)
	return nil
}

func numbers(s string) ([]float64, error) {
	var out []float64
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", p)
		}
		out = append(out, v)
	}
	return out, nil
}
