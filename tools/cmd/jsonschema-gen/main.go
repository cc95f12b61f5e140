// Command jsonschema-gen writes the JSON Schema (draft 2020-12) of every
// version of every log type, derived from the shared definitions in
// schemas/logtypes by libs/schema (LogType.JSONSchema) and never edited by
// hand, for producers that validate in another language than Go:
//
//	schemas/jsonschema/<log_type>/v<N>.schema.json
//
// After changing or adding a definition, run from the repository root
//
//	go run ./tools/cmd/jsonschema-gen    (or make generate)
//
// and commit the result; a test in this package fails while the committed
// files differ from what it generates, and a differential test checks that
// an independent JSON Schema validator accepts exactly the bodies the
// pipeline's validator accepts, but for the differences it lists. Schema
// files of log types or versions that no longer exist are removed; other
// files (the README) are left alone.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/tools/internal/genfiles"
)

// The directory the files go to, relative to the repository root, and the
// pattern of the generated files in it.
const (
	outDir      = "schemas/jsonschema"
	filePattern = "*/v*.schema.json"
)

func main() {
	out := flag.String("out", "", "directory to write to (default: "+outDir+" of the repository that holds the working directory)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./tools/cmd/jsonschema-gen [-out DIR]\n\n"+
			"Writes the JSON Schema (draft 2020-12) of each version of each log type in schemas/logtypes\n"+
			"to %s/<log_type>/v<N>.schema.json.\n\n", outDir)
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "jsonschema-gen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	out, err := genfiles.OutDir(out, outDir)
	if err != nil {
		return err
	}
	reg, err := schema.Load()
	if err != nil {
		return err
	}
	o, err := generate(reg)
	if err != nil {
		return err
	}
	return genfiles.WriteAll(out, []genfiles.Output{o}, os.Stdout)
}

// fileName is the path of the JSON Schema of one log type version,
// relative to schemas/jsonschema.
func fileName(logType string, version int) string {
	return logType + "/v" + strconv.Itoa(version) + ".schema.json"
}

// generate returns the JSON Schema of every version of every log type, by
// file name, as the single output directory (Dir "." of the output
// directory).
func generate(reg *schema.Registry) (genfiles.Output, error) {
	o := genfiles.Output{Dir: ".", Pattern: filePattern, Files: make(map[string][]byte)}
	for _, name := range reg.Names() {
		versions, err := reg.Versions(name)
		if err != nil {
			return o, err
		}
		for _, v := range versions {
			b, err := v.JSONSchema()
			if err != nil {
				return o, err
			}
			o.Files[fileName(name, v.Version)] = b
		}
	}
	return o, nil
}
