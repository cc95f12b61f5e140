// Command lambdazip builds Ore's Lambda deployment zips reproducibly (see
// tools/internal/lambdazip): `make lambda-zip` runs
//
//	go run ./tools/cmd/lambdazip -version $(VERSION) -dist dist arm64 amd64
//
// which writes dist/ore-lambda-<arch>.zip for each architecture and prints
// its path, size and SHA-256 (base64, as Lambda and Terraform show it).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/ore-masora/pipeline/tools/internal/lambdazip"
)

func main() {
	version := flag.String("version", "dev", "Ore's writer version, recorded in every file it writes")
	dist := flag.String("dist", "dist", "directory of the zips")
	module := flag.String("module", "services/ore", "Ore's module directory")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: lambdazip [-version V] [-dist DIR] [-module DIR] ARCH...   (ARCH: arm64, amd64)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, arch := range flag.Args() {
		out := filepath.Join(*dist, "ore-lambda-"+arch+".zip")
		if err := lambdazip.Build(ctx, lambdazip.Options{ModuleDir: *module, Arch: arch, Version: *version, Out: out}); err != nil {
			fmt.Fprintln(os.Stderr, "lambdazip:", err)
			os.Exit(1)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lambdazip:", err)
			os.Exit(1)
		}
		sum := sha256.Sum256(b)
		fmt.Printf("%s (%.1f MB, version %s, sha256 %s)\n", out, float64(len(b))/1e6, *version, base64.StdEncoding.EncodeToString(sum[:]))
	}
}
