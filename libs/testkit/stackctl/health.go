package stackctl

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
)

// checkSQS asks the SQS emulator to list queues (AWS JSON protocol).
func checkSQS(ctx context.Context, endpoint string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS.ListQueues")
	return expectOK(req)
}

// checkGCS lists buckets on the GCS emulator.
func checkGCS(ctx context.Context, endpoint string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/storage/v1/b?project="+stackenv.Project, nil)
	if err != nil {
		return err
	}
	return expectOK(req)
}

// checkBigQuery lists the datasets of the emulator's project.
func checkBigQuery(ctx context.Context, endpoint string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/bigquery/v2/projects/"+stackenv.Project+"/datasets", nil)
	if err != nil {
		return err
	}
	return expectOK(req)
}

// checkPostgres connects and pings.
func checkPostgres(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}

func expectOK(req *http.Request) error {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", req.Method, req.URL, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// check runs the health check that fits c.
func check(ctx context.Context, c Component) error {
	switch c.Name {
	case SQS:
		return checkSQS(ctx, c.URL)
	case GCS:
		return checkGCS(ctx, c.URL)
	case BigQuery:
		return checkBigQuery(ctx, c.URL)
	case Postgres:
		return checkPostgres(ctx, c.URL)
	default:
		return fmt.Errorf("unknown component %q", c.Name)
	}
}

// redactURL is c's URL without a PostgreSQL password.
func redactURL(c Component) string {
	if c.Name != Postgres {
		return c.URL
	}
	if cfg, err := pgconn.ParseConfig(c.URL); err == nil {
		return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
	}
	return "(DATABASE_URL)"
}
