// Package replay sends quarantined messages back to the queue: it is what
// `ore replay` runs once the cause of their quarantine is fixed (a new
// schema version deployed, a producer corrected, a log type added).
//
// It reads the quarantine objects of a range of hour folders (paths from
// libs/layout, records from libs/quarantine), keeps the records that match
// a filter (log type, reason), and sends each quarantined message once, by
// SQS message id, even when it sits in two objects (Ore stopped between its
// upload and its delete, and the message came back in another batch). The
// body goes back exactly as it was received, with the log_type message
// attribute of the record: replay never validates nor edits a body.
//
// Replaying is safe to repeat. A valid event replayed twice (two runs, or a
// replay of a message that was also published again) reaches Postgres once:
// Masora keys every row on the event's event_id. A body that is still bad is
// quarantined again by Ore, under a new message id, in the hour folder of
// its new receive time.
package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"google.golang.org/api/iterator"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/progress"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/schema"
)

// MaxRange bounds the hour range of one replay: a little over infra/gcp's
// default quarantine retention (90 days). Replay older ranges in parts.
const MaxRange = 93 * 24 * time.Hour

// sendChunk is how many messages go to one producer.SendMessages call: the
// producer packs them into SendMessageBatch calls of ten.
const sendChunk = 100

// Filter selects the quarantined messages to replay.
type Filter struct {
	// From and To are the first and last hour folders, both included: the
	// hours, UTC, in which Ore received the messages.
	From, To time.Time
	// LogType keeps only messages of this log type; empty keeps all, those
	// without a log type too.
	LogType string
	// Reason keeps only messages whose quarantine reason it matches
	// (anywhere in the reason, as regexp.MatchString does); nil keeps all.
	Reason *regexp.Regexp
}

// Options are where replay reads and sends.
type Options struct {
	// Bucket and Prefix are where Ore writes (GCS_BUCKET, GCS_PREFIX).
	Bucket *storage.BucketHandle
	Prefix string
	// Producer sends the messages to the queue; nil with DryRun.
	Producer *producer.Producer
	// DryRun reads and counts, and sends nothing.
	DryRun bool
	// Progress says where and how progress is shown: messages sent (with
	// DryRun: found), messages not sent, objects read and records matched.
	// Run sets its Label and Detail. A nil Out shows nothing.
	Progress progress.Options
	// Logger gets one line per message that could not be sent.
	Logger *slog.Logger
}

// Counts is the outcome of a replay.
type Counts struct {
	// Objects is how many quarantine objects were read.
	Objects int
	// Records is how many records they hold.
	Records int
	// Matched is how many records the filter kept, duplicates included.
	Matched int
	// Unique is how many distinct message ids the filter kept: the
	// messages to send.
	Unique int
	// Sent is how many messages the queue accepted; with DryRun, 0.
	Sent int
	// Failed is how many messages were not sent (see the log).
	Failed int
}

func (c Counts) String() string {
	return fmt.Sprintf("%d objects read, %d records, %d matched, %d unique message ids (%d duplicates skipped), %d sent, %d failed",
		c.Objects, c.Records, c.Matched, c.Unique, c.Matched-c.Unique, c.Sent, c.Failed)
}

// Check validates a filter: an hour range in order and not over MaxRange.
func (f Filter) Check() error {
	switch {
	case f.From.IsZero() || f.To.IsZero():
		return errors.New("the hour range needs a start and an end")
	case f.To.Before(f.From):
		return fmt.Errorf("the hour range ends (%s) before it starts (%s)", f.To.Format(time.RFC3339), f.From.Format(time.RFC3339))
	case layout.Hour(f.To).Sub(layout.Hour(f.From)) > MaxRange:
		return fmt.Errorf("the hour range %s to %s is longer than %d days: replay it in parts", f.From.Format(time.RFC3339), f.To.Format(time.RFC3339), int(MaxRange/(24*time.Hour)))
	}
	return nil
}

func (f Filter) match(r *quarantine.Record) bool {
	if f.LogType != "" && r.LogType != f.LogType {
		return false
	}
	return f.Reason == nil || f.Reason.MatchString(r.Reason)
}

// Run replays the quarantined messages that f selects and returns the
// counts. Messages that cannot be sent are counted as failed and logged;
// the error is for what stops the whole replay (the bucket cannot be
// listed or an object read, ctx ended).
func Run(ctx context.Context, o Options, f Filter) (Counts, error) {
	if err := f.Check(); err != nil {
		return Counts{}, err
	}
	if !o.DryRun && o.Producer == nil {
		return Counts{}, errors.New("replay: no producer to send with")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &run{Options: o, filter: f, seen: map[string]bool{}}
	po := o.Progress
	po.Label = "replay"
	if o.DryRun {
		po.Label = "replay (dry run)"
	}
	po.Detail = func() string {
		return fmt.Sprintf("%d objects read, %d records matched", r.objects.Load(), r.matched.Load())
	}
	r.progress = progress.New(po)
	err := r.all(ctx)
	r.flush(ctx) // what was queued before an error: sent, or counted as failed
	r.progress.Finish()
	return r.counts(), err
}

// run is one replay. The counts the progress line shows are atomic: the
// reporter reads them from its own goroutine.
type run struct {
	Options
	filter   Filter
	progress *progress.Reporter
	seen     map[string]bool // message ids already taken
	pending  []pendingMessage

	objects, matched atomic.Int64
	records, unique  int
	sent, failed     int
}

func (r *run) counts() Counts {
	return Counts{Objects: int(r.objects.Load()), Records: r.records, Matched: int(r.matched.Load()), Unique: r.unique, Sent: r.sent, Failed: r.failed}
}

// all reads every hour folder of the range and sends what matches.
func (r *run) all(ctx context.Context) error {
	for _, dir := range layout.HourPrefixes(r.Prefix, layout.QuarantineDir, r.filter.From, r.filter.To) {
		it := r.Bucket.Objects(ctx, &storage.Query{Prefix: dir, Projection: storage.ProjectionNoACL})
		for {
			attrs, err := it.Next()
			if errors.Is(err, iterator.Done) {
				break
			}
			if err != nil {
				return fmt.Errorf("list gs://%s/%s: %w", r.Bucket.BucketName(), dir, err)
			}
			if obj, err := layout.Parse(r.Prefix, attrs.Name); err != nil || obj.Kind != layout.Quarantine {
				r.Logger.WarnContext(ctx, "skipping an object that is not a quarantine object", "object", attrs.Name)
				continue
			}
			if err := r.object(ctx, attrs.Name); err != nil {
				return err
			}
			r.objects.Add(1)
		}
		r.flush(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// object reads the records of one quarantine object and queues those that
// match and were not seen before.
func (r *run) object(ctx context.Context, name string) error {
	rd, err := r.Bucket.Object(name).NewReader(ctx)
	if err != nil {
		return fmt.Errorf("read gs://%s/%s: %w", r.Bucket.BucketName(), name, err)
	}
	defer rd.Close()
	err = quarantine.Decode(rd, func(rec quarantine.Record) error {
		r.records++
		if !r.filter.match(&rec) {
			return nil
		}
		r.matched.Add(1)
		if r.seen[rec.MessageID] {
			return nil
		}
		r.seen[rec.MessageID] = true
		r.unique++
		m, err := message(&rec)
		switch {
		case err != nil:
			r.failed++
			r.progress.AddFailed(1)
			r.Logger.ErrorContext(ctx, "quarantined message cannot be replayed", "message_id", rec.MessageID, "object", name, "error", err)
		case r.DryRun:
			r.progress.Add(1)
		default:
			r.pending = append(r.pending, pendingMessage{id: rec.MessageID, msg: m})
			if len(r.pending) == sendChunk {
				r.flush(ctx)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read gs://%s/%s: %w", r.Bucket.BucketName(), name, err)
	}
	return nil
}

// flush sends the pending messages.
func (r *run) flush(ctx context.Context) {
	if len(r.pending) == 0 {
		return
	}
	msgs := make([]producer.Message, len(r.pending))
	for i, p := range r.pending {
		msgs[i] = p.msg
	}
	for i, res := range r.Producer.SendMessages(ctx, msgs) {
		if res.Err != nil {
			r.failed++
			r.progress.AddFailed(1)
			r.Logger.ErrorContext(ctx, "quarantined message not sent", "message_id", r.pending[i].id, "error", res.Err)
			continue
		}
		r.sent++
		r.progress.Add(1)
	}
	r.pending = r.pending[:0]
}

// pendingMessage is a message waiting to be sent, with the SQS message id
// it had when Ore quarantined it.
type pendingMessage struct {
	id  string
	msg producer.Message
}

// message returns the message to send for a record: its original body and
// its log type as the log_type attribute (none when it had no log type).
func message(r *quarantine.Record) (producer.Message, error) {
	body, err := r.OriginalBody()
	if err != nil {
		return producer.Message{}, err
	}
	if !utf8.Valid(body) {
		// SQS carries text only; such a body cannot have come from SQS.
		return producer.Message{}, errors.New("the body is not valid UTF-8, which an SQS message cannot carry")
	}
	m := producer.Message{Body: string(body)}
	if r.LogType != "" {
		m.Attributes = map[string]types.MessageAttributeValue{
			schema.AttributeLogType: {DataType: aws.String("String"), StringValue: aws.String(r.LogType)},
		}
	}
	return m, nil
}
