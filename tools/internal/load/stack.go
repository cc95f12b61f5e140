package load

import (
	"context"
	"fmt"
	"net/url"

	"github.com/ore-masora/pipeline/libs/testkit/stackctl"
)

// componentNames are how a report names the stack's components.
var componentNames = map[string]string{
	stackctl.SQS:      "fauxqs (SQS emulator)",
	stackctl.GCS:      "fake-gcs-server (GCS emulator)",
	stackctl.BigQuery: "BigQuery emulator",
	stackctl.Postgres: "PostgreSQL",
}

// StackProcesses returns the processes of the stack kept in dir (the
// folder of its env file): each emulator, and PostgreSQL with all its
// backends. A server the stack did not start (DATABASE_URL) is left out.
func StackProcesses(ctx context.Context, dir string) ([]Process, error) {
	status, err := stackctl.Open(dir, stackctl.Options{}).Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("stack in %s: %w", dir, err)
	}
	var out []Process
	for _, c := range status {
		if c.External || !c.Running || c.PID == 0 {
			continue
		}
		out = append(out, Process{Name: componentNames[c.Name], PID: c.PID, Group: true})
	}
	return out, nil
}

// SchemaURL returns the connection URL dsn (postgres://...) with
// search_path set to schema, so that unqualified tables (and Masora's
// migrations) land there.
func SchemaURL(dsn, schema string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("DATABASE_URL is not a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
