package statuspage_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/masora/internal/auth"
	"github.com/ore-masora/pipeline/services/masora/internal/dlq"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/masoratest"
	"github.com/ore-masora/pipeline/services/masora/internal/metrics"
	"github.com/ore-masora/pipeline/services/masora/internal/run"
	"github.com/ore-masora/pipeline/services/masora/internal/server"
	"github.com/ore-masora/pipeline/services/masora/internal/statuspage"
)

// ArtifactsVar names a directory where TestBrowser keeps its screenshot;
// unset, the screenshot goes to the test's artifact directory (kept with
// go test -artifacts, else removed with the test).
const ArtifactsVar = "ORE_MASORA_ARTIFACTS"

const token = "local-token-0123456789"

// chromium returns the path of a Chromium (Debian's package chromium),
// or skips the test, or fails it under STACK_REQUIRED=1.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no chromium on PATH: install Debian's package chromium (make deps does)"
	if os.Getenv(stacktest.RequiredVar) == "1" {
		t.Fatalf("%s; %s=1 so the browser test must run", msg, stacktest.RequiredVar)
	}
	t.Skip(msg)
	return ""
}

// browser starts a headless Chromium for the test, with the flags that
// keep it off the network but for the pages it is sent to.
func browser(t *testing.T, path string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1024),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// shown is what the test reads from the page's DOM.
type shown struct {
	URL      string         `json:"url"`
	Now      int64          `json:"now"`
	DLQ      string         `json:"dlq"`
	LogTypes []shownSection `json:"logTypes"`
}

type shownSection struct {
	Name             string     `json:"name"`
	Newest           string     `json:"newest"`
	Lag              string     `json:"lag"`
	RowsTotal        string     `json:"rowsTotal"`
	QuarantinedTotal string     `json:"quarantinedTotal"`
	Rows             []shownBar `json:"rows"`
	Quarantined      []shownBar `json:"quarantined"`
	Kinds            [][]string `json:"kinds"`
	Reasons          [][]string `json:"reasons"`
	Runs             [][]string `json:"runs"`
}

type shownBar struct {
	Hour  string `json:"hour"`
	Value int64  `json:"value"`
}

// readPage collects the numbers the page shows, as text, from the DOM;
// the thousands separators of counts are dropped.
const readPage = `(() => {
  const text = (el, sel) => { const e = el.querySelector(sel); return e ? e.textContent.trim() : ""; };
  const count = (el, sel) => text(el, sel).replace(/,/g, "");
  const bars = (s, cls) => [...s.querySelectorAll("svg." + cls + " rect.bar")].map(r => ({hour: r.dataset.hour, value: +r.dataset.value}));
  const field = (tr, f) => ["messages", "rows", "duplicates"].includes(f) ? count(tr, "[data-field=" + f + "]") : text(tr, "[data-field=" + f + "]");
  const rows = (s, sel, fields) => [...s.querySelectorAll(sel)].map(tr => fields.map(f => field(tr, f)));
  const lag = s => { const e = s.querySelector("[data-field=lag]"); return e ? e.dataset.seconds : ""; };
  return {
    url: location.href,
    now: +document.querySelector("#now").dataset.unix,
    dlq: text(document, "#dlq-depth"),
    logTypes: [...document.querySelectorAll("section.logtype")].map(s => ({
      name: s.dataset.logType,
      newest: text(s, "[data-field=newest-hour]"),
      lag: lag(s),
      rowsTotal: count(s, "[data-field=rows-total]"),
      quarantinedTotal: count(s, "[data-field=quarantined-total]"),
      rows: bars(s, "rows"),
      quarantined: bars(s, "quarantine"),
      kinds: rows(s, "table.kinds tr:not(:first-child)", ["kind", "messages"]),
      reasons: rows(s, "table.reasons tr:not(:first-child)", ["kind", "reason", "messages"]),
      runs: [...s.querySelectorAll("table.runs tr[data-run-id]")].map(tr =>
        [tr.dataset.runId, ...["status", "rows", "duplicates", "error"].map(f => field(tr, f))]),
    })),
  };
})()`

// TestBrowser opens the status page in headless Chromium, served by
// Masora's server over the stack's Postgres and SQS: it signs in through
// the form and through the token link, reads the numbers the page shows
// and checks each against Postgres (and the DLQ's depth against SQS), and
// keeps a screenshot.
func TestBrowser(t *testing.T) {
	pg := masoratest.NewPostgres(t)
	chrome := chromium(t)
	env := pg.Env

	insertFixture(t, pg.Pool, time.Now())
	t.Setenv("AWS_ACCESS_KEY_ID", env.AWSAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", env.AWSSecretAccessKey)
	_, dlqURL := stacktest.NewQueue(t, env)
	sqsClient := stacktest.SQSClient(t, env)
	for i := range 3 {
		if _, err := sqsClient.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: aws.String(dlqURL), MessageBody: aws.String(fmt.Sprint("dead ", i))}); err != nil {
			t.Fatal(err)
		}
	}

	log := masoratest.Logger(t)
	a, err := auth.New(t.Context(), auth.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	page := statuspage.New(statuspage.Options{
		Pool: pg.Pool, LogTypes: pg.Registry.Names(), Log: log,
		DLQ: dlq.New(t.Context(), dlq.Options{URL: dlqURL, Region: env.AWSRegion, Endpoint: env.SQSEndpoint}),
	})
	srv := httptest.NewServer(server.New(server.Deps{
		Runner: noRuns{t}, History: ledger.New(pg.Pool), Auth: a, Metrics: metrics.New(), Log: log, Page: page,
	}))
	t.Cleanup(srv.Close)

	ctx := browser(t, chrome)
	// Without a session: the login form. Through the form: the page.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("input#token")),
		chromedp.SendKeys(chromedp.CSS("input#token"), token),
		chromedp.Submit(chromedp.CSS("input#token")),
		chromedp.WaitVisible(chromedp.CSS("#now")),
	); err != nil {
		t.Fatalf("sign in through the form: %v", err)
	}
	// Signed out, the token link signs in again and leaves no token in the
	// address bar.
	if _, err := chromedp.Call(ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("input#token"))); err != nil {
		t.Fatalf("signed out, the page must show the login form: %v", err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?token="+token), chromedp.WaitVisible(chromedp.CSS("#now"))); err != nil {
		t.Fatalf("sign in through the link: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[shown](readPage))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	if got.URL != srv.URL+"/" {
		t.Errorf("after the token link the address is %s, want %s/", got.URL, srv.URL)
	}
	checkCookie(t, ctx, srv.URL)
	keepScreenshot(t, ctx)

	want := expected(t, pg, time.Unix(got.Now, 0).UTC())
	depth, err := sqsClient.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(dlqURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		t.Fatal(err)
	}
	want.URL, want.Now, want.DLQ = got.URL, got.Now, depth.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)]
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("the page shows (-Postgres and SQS +page):\n%s", diff)
	}
	if want.DLQ != "3" {
		t.Errorf("the DLQ holds %s messages, want the 3 sent", want.DLQ)
	}
	if len(got.LogTypes) < 4 || got.LogTypes[1].RowsTotal == "0" || len(got.LogTypes[1].Reasons) == 0 {
		t.Errorf("the fixture shows too little to check: %+v", got.LogTypes)
	}
}

// checkCookie checks the session cookie as the browser keeps it, and that
// it does not trigger a run.
func checkCookie(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range res.Cookies {
		if c.Name == auth.SessionCookieName {
			session = c
		}
	}
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict || strings.Contains(session.Value, token) {
		t.Fatalf("session cookie in the browser: %+v; want HttpOnly, SameSite=Strict, without the token", session)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/run", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: session.Name, Value: session.Value})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /run with the browser's session cookie = %s, want 401", resp.Status)
	}
}

// keepScreenshot saves a full-page screenshot and logs where.
func keepScreenshot(t *testing.T, ctx context.Context) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv(ArtifactsVar)
	if dir == "" {
		dir = t.ArtifactDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "statuspage.png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the status page: %s (%d bytes)", path, len(png))
}

// expected computes from Postgres, with queries of its own, what the page
// must show at now for every log type the page lists.
func expected(t *testing.T, pg *masoratest.Postgres, now time.Time) shown {
	t.Helper()
	ctx := t.Context()
	to := now.Truncate(time.Hour).Add(time.Hour)
	from := to.Add(-statuspage.DefaultHours * time.Hour)
	var names []string
	rows, err := pg.Pool.Query(ctx, `SELECT DISTINCT log_type FROM quarantined_messages
		WHERE received_at >= $1 AND received_at < $2 AND NOT log_type = ANY($3) ORDER BY 1`, from, to, pg.Registry.Names())
	if err != nil {
		t.Fatal(err)
	}
	others, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	names = append(append(names, pg.Registry.Names()...), others...)

	hourly := func(query string, args ...any) ([]shownBar, string) {
		counts := map[time.Time]int64{}
		rows, err := pg.Pool.Query(ctx, query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var hour time.Time
		var n, total int64
		if _, err := pgx.ForEachRow(rows, []any{&hour, &n}, func() error {
			counts[hour.UTC()] += n
			total += n
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if total == 0 {
			return nil, "0" // no chart is drawn
		}
		var bars []shownBar
		for h := from; h.Before(to); h = h.Add(time.Hour) {
			bars = append(bars, shownBar{Hour: h.Format(time.RFC3339), Value: counts[h]})
		}
		return bars, strconv.FormatInt(total, 10)
	}
	table := func(query string, args ...any) [][]string {
		rows, err := pg.Pool.Query(ctx, query, args...)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
			vals, err := r.Values()
			s := make([]string, len(vals))
			for i, v := range vals {
				s[i] = fmt.Sprint(v)
			}
			return s, err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	var want shown
	for _, name := range names {
		defined := slices.Contains(pg.Registry.Names(), name)
		sec := shownSection{Name: name}
		if defined {
			var newest *time.Time
			if err := pg.Pool.QueryRow(ctx, `SELECT max(hour) FROM masora_manifest WHERE log_type = $1`, name).Scan(&newest); err != nil {
				t.Fatal(err)
			}
			sec.Newest = "nothing loaded yet"
			if newest != nil {
				sec.Newest = newest.UTC().Format("2006-01-02 15:04 UTC")
				sec.Lag = strconv.FormatInt(int64(now.Sub(*newest)/time.Second), 10)
			}
			sec.Rows, sec.RowsTotal = hourly(`SELECT date_trunc('hour', started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', rows_loaded
				FROM masora_runs WHERE log_type = $1 AND started_at >= $2 AND started_at < $3`, name, from, to)
			sec.Runs = table(`SELECT run_id::text, status, rows_loaded::text, duplicates_skipped::text, coalesce(error, '')
				FROM masora_runs WHERE log_type = $1 ORDER BY started_at DESC, run_id DESC LIMIT $2`, name, statuspage.DefaultRuns)
		}
		// Recounted from the messages, not read from quarantine_hourly.
		sec.Quarantined, sec.QuarantinedTotal = hourly(`SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*)
			FROM quarantined_messages WHERE log_type = $1 AND received_at >= $2 AND received_at < $3 GROUP BY 1`, name, from, to)
		sec.Kinds = table(`SELECT reason_kind, count(*)::text FROM quarantined_messages
			WHERE log_type = $1 AND received_at >= $2 AND received_at < $3 GROUP BY 1 ORDER BY count(*) DESC, 1`, name, from, to)
		sec.Reasons = table(`SELECT reason_kind, reason, count(*)::text FROM quarantined_messages
			WHERE log_type = $1 AND received_at >= $2 AND received_at < $3 GROUP BY 1, 2 ORDER BY count(*) DESC, 1, 2 LIMIT $4`,
			name, from, to, statuspage.DefaultTopReasons)
		want.LogTypes = append(want.LogTypes, sec)
	}
	return want
}

// noRuns is a Runner the page must never reach.
type noRuns struct{ t *testing.T }

func (r noRuns) Run(context.Context, run.Request) ([]ledger.Run, error) {
	r.t.Error("a run was triggered from the status page's test")
	return nil, nil
}
