// Package invariant checks the pipeline's promise from the outside: every
// valid event a producer published is in its Postgres row table exactly once,
// and every invalid message is kept in quarantine once, with its reason.
//
// Given what was published (Published: the event ids of the valid events per
// log type, duplicates included, and the SQS message ids of the bad messages
// by kind), Check reads Postgres, the bucket and the queues and returns every
// violation it finds, each a sentence a person can act on:
//
//   - rows: each log type's table holds exactly the distinct published event
//     ids (missing and unexpected ids are both reported);
//   - quarantine: every bad message id is in a quarantine object with a
//     reason, and no other message id is. A message may sit in two objects
//     (Ore stopped between its upload and its delete): quarantine counts by
//     SQS message id, so that is not a violation;
//   - quarantine tables (Options.QuarantineTables): quarantined_messages
//     holds exactly the bad message ids and quarantine_hourly equals a
//     recount from it;
//   - summaries: every hourly summary equals a recount from its row table,
//     both ways (libs/schema's hourly_summary of each log type);
//   - manifest: masora_manifest names exactly the data objects in the bucket
//     under the log type folders (name and generation), and nothing that
//     does not exist;
//   - runs: no masora_runs row is left 'running';
//   - queues: the queue is drained and the DLQ holds Options.DLQMessages.
//
// It is test support (libs/testkit): the end-to-end test, the chaos suite
// and load runs call it after the pipeline has settled.
package invariant

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ore-masora/pipeline/libs/schema"
)

// Published is what the producers published.
type Published struct {
	// Events holds, per log type, the event_id of every valid event
	// published; an id published twice (a duplicate, a retry) is listed
	// twice or once, it makes no difference.
	Events map[string][]string
	// Bad holds, per kind of bad message (a label such as "not JSON" or
	// "unknown log type"), the SQS message ids the send calls returned.
	Bad map[string][]string
}

// AddEvent records a valid event.
func (p *Published) AddEvent(logType, eventID string) {
	if p.Events == nil {
		p.Events = map[string][]string{}
	}
	p.Events[logType] = append(p.Events[logType], eventID)
}

// AddBad records a bad message by the SQS message id its send returned.
func (p *Published) AddBad(kind, messageID string) {
	if p.Bad == nil {
		p.Bad = map[string][]string{}
	}
	p.Bad[kind] = append(p.Bad[kind], messageID)
}

// Querier runs SQL: a *pgx.Conn or a *pgxpool.Pool.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Target says where the pipeline put its output.
type Target struct {
	// DB is the reporting database, its search_path set to the schema of
	// the pipeline's tables.
	DB Querier
	// Bucket and Prefix are Ore's GCS_BUCKET and GCS_PREFIX.
	Bucket *storage.BucketHandle
	Prefix string
	// SQS, QueueURL and DLQURL are the queue Ore consumed and its DLQ; with
	// SQS nil the queues are not checked, with DLQURL empty the DLQ is not.
	SQS              *sqs.Client
	QueueURL, DLQURL string
	// Registry holds the log types; nil means schema.Load().
	Registry *schema.Registry
}

// Options tune Check.
type Options struct {
	// DLQMessages is the number of messages the scenario expects in the
	// DLQ; zero means the DLQ must be empty.
	DLQMessages int
	// QuarantineTables checks quarantined_messages and quarantine_hourly:
	// switch it on when Masora loads quarantine (migration 0004 and the
	// quarantine load) and has run after the last bad message was
	// quarantined.
	QuarantineTables bool
	// Examples is the most ids a violation lists; zero means 5.
	Examples int
}

// Invariant names one of the invariants Check verifies.
type Invariant string

// The invariants, as Violation.Invariant names them.
const (
	Rows             Invariant = "rows"
	Quarantine       Invariant = "quarantine"
	QuarantineTables Invariant = "quarantine tables"
	Summaries        Invariant = "summaries"
	Manifest         Invariant = "manifest"
	Runs             Invariant = "runs"
	Queues           Invariant = "queues"
)

// Violation is one broken invariant.
type Violation struct {
	Invariant Invariant
	// Message says what is wrong, with counts and examples.
	Message string
}

func (v Violation) String() string { return string(v.Invariant) + ": " + v.Message }

// Counts say what Check looked at.
type Counts struct {
	// Events is the number of distinct published event ids, Rows the rows
	// found in the row tables.
	Events, Rows int
	// Bad is the number of distinct bad message ids; QuarantineRecords the
	// records in quarantine objects, QuarantineMessages the distinct message
	// ids among them and QuarantineRepeats the records of a message id
	// already seen in another record (allowed; counted by message id).
	Bad, QuarantineRecords, QuarantineMessages, QuarantineRepeats int
	// DataObjects and QuarantineObjects are the objects in the bucket,
	// ManifestEntries the rows of masora_manifest.
	DataObjects, QuarantineObjects, ManifestEntries int
	// SummaryRows is the number of hourly summary rows compared.
	SummaryRows int
}

// Report is the outcome of Check.
type Report struct {
	Violations []Violation
	Counts     Counts
}

// Err returns nil when no invariant is broken, else an error listing every
// violation, one a line.
func (r *Report) Err() error {
	if len(r.Violations) == 0 {
		return nil
	}
	lines := make([]string, len(r.Violations))
	for i, v := range r.Violations {
		lines[i] = v.String()
	}
	return fmt.Errorf("%d invariant violations:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// String summarises what was checked, on one line.
func (r *Report) String() string {
	c := r.Counts
	return fmt.Sprintf("%d distinct events → %d rows; %d bad messages → %d quarantined (%d records, %d repeats); "+
		"%d data objects, %d quarantine objects, %d manifest entries; %d summary rows; %d violations",
		c.Events, c.Rows, c.Bad, c.QuarantineMessages, c.QuarantineRecords, c.QuarantineRepeats,
		c.DataObjects, c.QuarantineObjects, c.ManifestEntries, c.SummaryRows, len(r.Violations))
}

// checker holds the state of one Check.
type checker struct {
	t        Target
	p        Published
	opts     Options
	reg      *schema.Registry
	report   *Report
	bucketIx *bucketIndex
}

// Check verifies every invariant and returns the violations found. It
// returns an error only when it could not look (Postgres, the bucket or a
// queue did not answer); a missing table is a violation.
func Check(ctx context.Context, t Target, p Published, opts Options) (*Report, error) {
	if t.DB == nil || t.Bucket == nil {
		return nil, errors.New("invariant: Target needs DB and Bucket")
	}
	if opts.Examples <= 0 {
		opts.Examples = 5
	}
	reg := t.Registry
	if reg == nil {
		var err error
		if reg, err = schema.Load(); err != nil {
			return nil, fmt.Errorf("invariant: %w", err)
		}
	}
	c := &checker{t: t, p: p, opts: opts, reg: reg, report: &Report{}}
	steps := []func(context.Context) error{c.rows, c.summaries, c.listBucket, c.quarantine, c.manifest, c.runs, c.queues}
	if opts.QuarantineTables {
		steps = append(steps, c.quarantineTables)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, fmt.Errorf("invariant: %w", err)
		}
	}
	return c.report, nil
}

func (c *checker) violate(inv Invariant, format string, args ...any) {
	c.report.Violations = append(c.report.Violations, Violation{Invariant: inv, Message: fmt.Sprintf(format, args...)})
}

// examples formats up to n of ids, sorted, as "a, b, c" plus "…" when more.
func examples(ids []string, n int) string {
	ids = slices.Sorted(slices.Values(ids))
	if len(ids) <= n {
		return strings.Join(ids, ", ")
	}
	return strings.Join(ids[:n], ", ") + ", …"
}

// difference returns the keys of a not in b.
func difference(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	return out
}

// setOf returns the distinct values of ids, lower-cased when fold is set
// (UUIDs: Postgres prints them in lower case).
func setOf(ids []string, fold bool) map[string]bool {
	s := make(map[string]bool, len(ids))
	for _, id := range ids {
		if fold {
			id = strings.ToLower(id)
		}
		s[id] = true
	}
	return s
}

// tableExists reports whether a table is visible on the search path.
func tableExists(ctx context.Context, db Querier, table string) (bool, error) {
	var ok bool
	err := db.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{table}.Sanitize()).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up table %s: %w", table, err)
	}
	return ok, nil
}

// undefinedTable reports whether err is Postgres saying a table does not
// exist (SQLSTATE 42P01).
func undefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// queryStrings runs a query returning one text column.
func queryStrings(ctx context.Context, db Querier, sql string, args ...any) ([]string, error) {
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
