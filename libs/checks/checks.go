// Package checks reports the outcome of a deployment's checks (`ore doctor`,
// `masora doctor`): one result per check, printed as a pass/fail table with
// what to fix under each failure.
package checks

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Result is the outcome of one check.
type Result struct {
	Check  string
	OK     bool
	Detail string // what was found
	Fix    string // what to do, when not OK
}

// OK reports whether every check passed.
func OK(rs []Result) bool {
	for _, r := range rs {
		if !r.OK {
			return false
		}
	}
	return true
}

// Write prints the results as a table, one line per check, and a "fix:"
// line under each failure.
func Write(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tRESULT\tDETAIL")
	for _, r := range rs {
		res := "pass"
		if !r.OK {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Check, res, oneLine(r.Detail))
		if !r.OK && r.Fix != "" {
			fmt.Fprintf(tw, "\t\tfix: %s\n", oneLine(r.Fix))
		}
	}
	n := 0
	for _, r := range rs {
		if !r.OK {
			n++
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n == 0 {
		_, err := fmt.Fprintf(w, "all %d checks passed\n", len(rs))
		return err
	}
	_, err := fmt.Fprintf(w, "%d of %d checks failed\n", n, len(rs))
	return err
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Outcomes maps each check to "pass", "FAIL", or "FAIL without a fix" (a
// failure must say what to do): the shape tests compare.
func Outcomes(rs []Result) map[string]string {
	m := make(map[string]string, len(rs))
	for _, r := range rs {
		switch {
		case r.OK:
			m[r.Check] = "pass"
		case r.Fix == "":
			m[r.Check] = "FAIL without a fix"
		default:
			m[r.Check] = "FAIL"
		}
	}
	return m
}
