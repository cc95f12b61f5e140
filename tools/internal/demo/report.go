package demo

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
)

// channels are user_action's channels in the order the report lists them.
var channels = []string{"web", "app", "whatsapp"}

// stackKeys are the variables of .stack/env a demo run needs.
var stackKeys = []string{
	stackenv.KeyAWSRegion, stackenv.KeyAWSAccessKeyID, stackenv.KeyAWSSecretAccessKey, stackenv.KeySQSEndpoint,
	stackenv.KeyStorageEmulator, stackenv.KeyGCSBucket, stackenv.KeyBigQueryEndpoint, stackenv.KeyBigQueryProject,
	stackenv.KeyBigQueryDataset, stackenv.KeyDatabaseURL,
}

// Prepare makes the resources of one demo run on the running stack, all
// called name: a queue with its DLQ, a GCS prefix and a Postgres database.
func Prepare(ctx context.Context, getenv func(string) string, name string) (Target, error) {
	t := Target{}
	for _, k := range stackKeys {
		v := getenv(k)
		if v == "" {
			return nil, fmt.Errorf("%s is not set: start the stack with `make stack-up` and export .stack/env (`set -a; . .stack/env; set +a`)", k)
		}
		t[k] = v
	}
	q, dlq, err := stackenv.CreateQueues(ctx, stackenv.SQSClient(t["SQS_ENDPOINT"]), strings.ReplaceAll(name, "_", "-"), stackenv.QueueOptions{})
	if err != nil {
		return nil, err
	}
	t["SQS_QUEUE_URL"], t["SQS_DLQ_URL"] = q, dlq
	t["GCS_PREFIX"] = name

	conn, err := pgx.Connect(ctx, t["DATABASE_URL"])
	if err != nil {
		return nil, fmt.Errorf("connect to Postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(t["DATABASE_URL"])
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	u.Path = "/" + name
	t["DATABASE_URL"] = u.String()
	return t, nil
}

// Check compares what the pipeline produced with the plan and returns every
// difference; none means every valid event is in Postgres exactly once,
// every bad message is in quarantine, the summaries are right and the second
// run changed nothing.
func (r *Result) Check(p *Plan) []string {
	var problems []string
	for lt, want := range p.Rows {
		if got := r.Report.Rows[lt]; got != int64(want) {
			problems = append(problems, fmt.Sprintf("%s: %d rows in Postgres, want %d", lt, got, want))
		}
	}
	if got, want := len(r.Quarantine), len(p.Bad); got != want {
		problems = append(problems, fmt.Sprintf("%d messages in quarantine, want %d", got, want))
	}
	problems = append(problems, r.checkQuality(p)...)
	for lt, want := range p.Summary {
		got := r.Report.Summaries[lt]
		for k, w := range want {
			if got[k] != w {
				problems = append(problems, fmt.Sprintf("%s summary %s %s: %+v, want %+v", lt, k.Hour.Format("2006-01-02 15h"), k.Dims, got[k], w))
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				problems = append(problems, fmt.Sprintf("%s summary has an unexpected row %s %s", lt, k.Hour.Format("2006-01-02 15h"), k.Dims))
			}
		}
	}
	for _, o := range r.SecondRun {
		if o.ObjectsLoaded != 0 || o.Rows != 0 {
			problems = append(problems, fmt.Sprintf("second run loaded %d objects, %d rows of %s; want nothing", o.ObjectsLoaded, o.Rows, o.LogType))
		}
	}
	for lt, n := range r.Report.Rows {
		if m := r.ReportAfterSecondRun.Rows[lt]; m != n {
			problems = append(problems, fmt.Sprintf("second run changed %s from %d to %d rows", lt, n, m))
		}
	}
	sort.Strings(problems)
	return problems
}

// Print writes the report and returns an error if Check finds a problem.
func (r *Result) Print(w io.Writer, p *Plan) error {
	published := len(p.Valid) + len(p.Duplicates)
	var loaded int64
	for _, n := range r.Report.Rows {
		loaded += n
	}
	fmt.Fprintf(w, "\nReport\n------\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "published through the producer\t%d (of which %d duplicates)\n", published, len(p.Duplicates))
	for _, lt := range sortedKeys(r.Report.Rows) {
		fmt.Fprintf(tw, "rows in %s\t%d\n", lt, r.Report.Rows[lt])
	}
	fmt.Fprintf(tw, "duplicates removed\t%d\n", int64(published)-loaded)
	fmt.Fprintf(tw, "messages quarantined\t%d\n", len(r.Quarantine))
	tw.Flush()

	fmt.Fprintf(w, "\nQuarantine (bad messages kept with their reason)\n")
	for _, q := range r.Quarantine {
		fmt.Fprintf(w, "  %-13s %-16s %s\n", cmp.Or(q.LogType, "-"), q.Kind(), clip(q.Reason, 95))
	}

	fmt.Fprintf(w, "\nData quality: which producer sends what bad data (quarantine_hourly, %d messages)\n", r.Report.Quality.Messages)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  source\tlog type\treason kind\tmessages\n")
	for _, g := range r.Report.Quality.Groups {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\n", cmp.Or(g.Source, "(none)"), cmp.Or(g.LogType, "(none)"), g.Kind, g.Messages)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nTop user actions per hour (user_action_hourly)\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  hour (UTC)\taction|channel\tevents\tdistinct users\n")
	for _, s := range r.Report.TopActions {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\n", s.Hour.Format("2006-01-02 15:00"), s.Dims, s.Events, s.Distinct)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nCart confirmation vs cancellation\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  channel\tconfirmed\tcancelled\tconfirmation rate\n")
	for _, ch := range channels {
		c, x := r.Report.CartsConfirmed[ch], r.Report.CartsCancelled[ch]
		rate := "-"
		if c+x > 0 {
			rate = fmt.Sprintf("%.1f%%", 100*float64(c)/float64(c+x))
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\n", ch, c, x, rate)
	}
	tw.Flush()

	fmt.Fprintf(w, "\nSecond POST /run\n")
	for _, o := range r.SecondRun {
		fmt.Fprintf(w, "  %s: %s, %d objects, %d rows\n", o.LogType, o.Status, o.ObjectsLoaded, o.Rows)
	}

	if problems := r.Check(p); len(problems) > 0 {
		return fmt.Errorf("the pipeline's output differs from what was published:\n  %s", strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(w, "\nchecked: every valid event is in Postgres exactly once, every bad message is in quarantine and\n"+
		"counted exactly once in quarantined_messages with its reason kind and source, the hourly summaries\n"+
		"equal a count made from the published events, and the second run changed nothing.\n")
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Quality is what Masora made of the quarantine: the data-quality summary.
type Quality struct {
	// Messages is the number of rows of quarantined_messages, one per
	// quarantined SQS message id.
	Messages int64
	// MessageIDs are their message ids, sorted.
	MessageIDs []string
	// Groups are quarantine_hourly's counts summed over the hours, by
	// source, log type and reason kind, largest first.
	Groups []QualityGroup
}

// QualityGroup counts the quarantined messages of one source, log type and
// reason kind ("" for a source or log type the message did not name).
type QualityGroup struct {
	Source, LogType string
	Kind            quarantine.Kind
	Messages        int64
}

// readQuality reads the quarantine's rows and hourly summary.
func readQuality(ctx context.Context, conn *pgx.Conn) (Quality, error) {
	var q Quality
	rows, err := conn.Query(ctx, `SELECT message_id FROM quarantined_messages ORDER BY 1`)
	if err != nil {
		return q, fmt.Errorf("read quarantined_messages: %w", err)
	}
	if q.MessageIDs, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		return q, fmt.Errorf("read quarantined_messages: %w", err)
	}
	q.Messages = int64(len(q.MessageIDs))
	rows, err = conn.Query(ctx, `SELECT source, log_type, reason_kind, sum(messages)::bigint FROM quarantine_hourly
		GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3`)
	if err != nil {
		return q, fmt.Errorf("read quarantine_hourly: %w", err)
	}
	q.Groups, err = pgx.CollectRows(rows, pgx.RowToStructByPos[QualityGroup])
	if err != nil {
		return q, fmt.Errorf("read quarantine_hourly: %w", err)
	}
	return q, nil
}

// checkQuality checks that every bad message of the plan is counted exactly
// once in quarantined_messages and quarantine_hourly, under the log type,
// source and reason kind the plan gives it; the source is read from the
// published body here, independently of Masora.
func (r *Result) checkQuality(p *Plan) []string {
	var problems []string
	q := r.Report.Quality
	ids := make(map[string]bool)
	for _, rec := range r.Quarantine {
		ids[rec.MessageID] = true
	}
	want := make([]string, 0, len(ids))
	for id := range ids {
		want = append(want, id)
	}
	slices.Sort(want)
	if !slices.Equal(want, q.MessageIDs) {
		problems = append(problems, fmt.Sprintf("quarantined_messages holds message ids %v, want the %d quarantined (%v)", q.MessageIDs, len(want), want))
	}
	if q.Messages != int64(len(p.Bad)) {
		problems = append(problems, fmt.Sprintf("quarantined_messages has %d rows, want one per bad message: %d", q.Messages, len(p.Bad)))
	}
	wantGroups := make(map[QualityGroup]int64)
	for _, m := range p.Bad {
		var body map[string]any
		source := ""
		if json.Unmarshal(m.Body, &body) == nil {
			source, _ = body[schema.FieldSource].(string)
		}
		wantGroups[QualityGroup{Source: source, LogType: m.LogType, Kind: m.Kind}]++
	}
	gotGroups := make(map[QualityGroup]int64)
	for _, g := range q.Groups {
		n := g.Messages
		g.Messages = 0
		gotGroups[g] += n
	}
	for g, n := range wantGroups {
		if gotGroups[g] != n {
			problems = append(problems, fmt.Sprintf("quarantine_hourly counts %d messages of source %q, log type %q, kind %s; want %d", gotGroups[g], g.Source, g.LogType, g.Kind, n))
		}
	}
	for g, n := range gotGroups {
		if _, ok := wantGroups[g]; !ok {
			problems = append(problems, fmt.Sprintf("quarantine_hourly counts %d unexpected messages of source %q, log type %q, kind %s", n, g.Source, g.LogType, g.Kind))
		}
	}
	return problems
}
