package loader

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/services/masora/internal/ledger"
	"github.com/ore-masora/pipeline/services/masora/internal/pgfault"
)

// QuarantineLogType is the log type under which the manifest and the run
// history record the quarantine objects: their folder's name, which no log
// type can have.
const QuarantineLogType = layout.QuarantineDir

// Tables of the quarantine, as migration 0004 creates them.
const (
	QuarantineTable   = "quarantined_messages"
	QuarantineSummary = "quarantine_hourly"
)

// Records is a stream of quarantine records, the records of one chunk's
// objects.
type Records interface {
	// Next returns the next record; io.EOF after the last.
	Next() (quarantine.Record, error)
}

// QuarantineChunk is one chunk of quarantine objects: their records are
// loaded together, all or nothing.
type QuarantineChunk struct {
	// RunID is the run the chunk belongs to; its counters are updated in
	// the chunk's transaction.
	RunID int64
	// Objects are recorded in the manifest in the chunk's transaction.
	Objects []ledger.Object
	// Records are the records of the objects, read once.
	Records Records
}

// quarantineColumns are the columns of quarantined_messages a chunk
// writes, in the order of quarantineRow.
var quarantineColumns = []string{"message_id", "log_type", "reason_kind", "reason", "source", "event_id",
	"body", "body_base64", "received_at", "writer_version"}

// The statements of LoadQuarantine. The staging table has no key: the
// insert keeps one row per message id, the earliest received, and skips
// the ids loaded before, so a message quarantined twice (Ore stopped
// between its upload and its delete) counts once, in one chunk or across
// chunks and runs. Summary hours are UTC hours of received_at.
var (
	createQuarantineStage = fmt.Sprintf(`CREATE TEMP TABLE %s (LIKE %s INCLUDING DEFAULTS) ON COMMIT DROP`,
		pgx.Identifier{stageTable}.Sanitize(), pgx.Identifier{QuarantineTable}.Sanitize())
	insertQuarantine = fmt.Sprintf(`
		WITH inserted AS (
			INSERT INTO %[1]s (%[2]s)
			SELECT DISTINCT ON (message_id) %[2]s FROM %[3]s
			ORDER BY message_id, received_at, reason_kind, reason
			ON CONFLICT (message_id) DO NOTHING
			RETURNING received_at, reason_kind
		)
		SELECT
			(SELECT coalesce(array_agg(DISTINCT date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'), '{}') FROM inserted),
			(SELECT coalesce(jsonb_object_agg(reason_kind, n), '{}') FROM (SELECT reason_kind, count(*) AS n FROM inserted GROUP BY 1) AS k)`,
		pgx.Identifier{QuarantineTable}.Sanitize(), quoteAll(quarantineColumns), pgx.Identifier{"pg_temp", stageTable}.Sanitize())
	deleteQuarantineSummary = fmt.Sprintf(`DELETE FROM %s WHERE hour = ANY($1::timestamptz[])`, pgx.Identifier{QuarantineSummary}.Sanitize())
	insertQuarantineSummary = fmt.Sprintf(`
		INSERT INTO %s (hour, log_type, source, reason_kind, messages)
		SELECT h.hour, q.log_type, coalesce(q.source, ''), q.reason_kind, count(*)
		FROM unnest($1::timestamptz[]) AS h(hour)
		JOIN %s AS q ON q.received_at >= h.hour AND q.received_at < h.hour + interval '1 hour'
		GROUP BY 1, 2, 3, 4`,
		pgx.Identifier{QuarantineSummary}.Sanitize(), pgx.Identifier{QuarantineTable}.Sanitize())
)

// QuarantineStats tell what loading a chunk of quarantine objects did.
type QuarantineStats struct {
	// Stats: Rows are the messages inserted; Duplicates the records whose
	// message id was loaded before or came twice in the chunk; Hours the
	// summary hours the new rows touch, all recomputed.
	Stats
	// Kinds counts the inserted messages by reason kind.
	Kinds map[string]int64
}

// LoadQuarantine loads a chunk of quarantine objects in one transaction: it
// records the objects in the manifest, copies their records into a staging
// table, inserts one row per message id not loaded before into
// quarantined_messages, recomputes quarantine_hourly for every hour the new
// rows touch, and adds the chunk's counts to its run. Either all of it
// commits or nothing does.
//
// An error of c.Records is returned as it is, wrapped, so that one naming
// a bad object (a *fault.BadObjectsError) still names it.
func (l *Loader) LoadQuarantine(ctx context.Context, c QuarantineChunk) (QuarantineStats, error) {
	tx, err := l.db.Begin(ctx)
	if err != nil {
		return QuarantineStats{}, pgfault.Classify("begin quarantine chunk transaction", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		tx.Rollback(rctx)
	}()

	if err := ledger.RecordObjects(ctx, tx, QuarantineLogType, c.RunID, c.Objects); err != nil {
		return QuarantineStats{}, err
	}
	if _, err := tx.Exec(ctx, createQuarantineStage); err != nil {
		return QuarantineStats{}, pgfault.Classify("create quarantine staging table", err)
	}
	src := &recordSource{recs: c.Records, row: make([]any, len(quarantineColumns))}
	staged, err := tx.CopyFrom(ctx, pgx.Identifier{"pg_temp", stageTable}, quarantineColumns, src)
	if src.err != nil {
		return QuarantineStats{}, src.err
	}
	if err != nil {
		return QuarantineStats{}, pgfault.Classify("copy quarantine records into the staging table", err)
	}
	var (
		st    = QuarantineStats{Stats: Stats{Staged: true}}
		hours []time.Time
	)
	if err := tx.QueryRow(ctx, insertQuarantine).Scan(&hours, &st.Kinds); err != nil {
		return QuarantineStats{}, pgfault.Classify("insert staged records into "+QuarantineTable, err)
	}
	for _, n := range st.Kinds {
		st.Rows += n
	}
	st.Duplicates = staged - st.Rows
	st.Hours, st.HoursRecomputed = len(hours), len(hours)
	if len(hours) > 0 {
		b := &pgx.Batch{}
		b.Queue(deleteQuarantineSummary, hours)
		b.Queue(insertQuarantineSummary, hours)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return QuarantineStats{}, pgfault.Classify(fmt.Sprintf("update %s for %d hours", QuarantineSummary, len(hours)), err)
		}
	}
	if err := ledger.CountChunk(ctx, tx, c.RunID, len(c.Objects), st.Rows, st.Duplicates); err != nil {
		return QuarantineStats{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return QuarantineStats{}, pgfault.Classify("commit quarantine chunk", err)
	}
	return st, nil
}

// recordSource feeds quarantine records to pgx CopyFrom as rows of
// quarantined_messages. It holds one row.
type recordSource struct {
	recs Records
	row  []any
	n    int64
	err  error
}

// Next implements pgx.CopyFromSource.
func (s *recordSource) Next() bool {
	rec, err := s.recs.Next()
	if errors.Is(err, io.EOF) {
		return false
	}
	if err != nil {
		s.err = fmt.Errorf("read quarantine record %d of the chunk: %w", s.n+1, err)
		return false
	}
	s.n++
	quarantineRow(&rec, s.row)
	return true
}

// Values implements pgx.CopyFromSource.
func (s *recordSource) Values() ([]any, error) { return s.row, nil }

// Err implements pgx.CopyFromSource.
func (s *recordSource) Err() error { return s.err }

// quarantineRow fills row with a record's values, in quarantineColumns
// order. Postgres text cannot hold the NUL character, which a JSON string
// (a log type named in the body, a source) can: the derived texts get
// U+FFFD in its place, and a body holding a NUL byte is kept, exactly, in
// body_base64 like one that is not UTF-8.
func quarantineRow(rec *quarantine.Record, row []any) {
	o := rec.Origin()
	var body, bodyBase64 any
	switch {
	case rec.BodyBase64 != "":
		bodyBase64 = rec.BodyBase64
	case strings.IndexByte(rec.Body, 0) >= 0:
		bodyBase64 = base64.StdEncoding.EncodeToString([]byte(rec.Body))
	default:
		body = rec.Body
	}
	row[0] = text(rec.MessageID)
	row[1] = text(rec.LogType)
	row[2] = text(string(rec.Kind()))
	row[3] = text(rec.Reason)
	row[4] = optionalText(o.Source)
	row[5] = optionalText(o.EventID)
	row[6] = body
	row[7] = bodyBase64
	row[8] = rec.ReceivedAt
	row[9] = text(rec.WriterVersion)
}

// text returns s as Postgres text can hold it.
func text(s string) string { return strings.ReplaceAll(s, "\x00", "\uFFFD") }

// optionalText is text, or NULL for "".
func optionalText(s string) any {
	if s == "" {
		return nil
	}
	return text(s)
}
