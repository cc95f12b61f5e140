package replay_test

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/layout"
	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/progress"
	"github.com/ore-masora/pipeline/libs/quarantine"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/ore/internal/handler/handlertest"
	"github.com/ore-masora/pipeline/services/ore/internal/replay"
)

const prefix = "logs"

var (
	h09 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	h10 = h09.Add(time.Hour)
	h11 = h10.Add(time.Hour)
)

// sent is what the queue received: a body and its log_type attribute.
type sent struct{ Body, LogType string }

func rec(id, logType, reason, body string) quarantine.Record {
	r := quarantine.Record{MessageID: id, LogType: logType, Reason: reason, ReceivedAt: h10, WriterVersion: "ore test"}
	if logType != "" {
		r.Attributes = map[string]string{"log_type": logType}
	}
	r.SetBody(body)
	return r
}

// writeObject writes records as one quarantine object of the hour, named
// after their message ids as Ore names it.
func writeObject(t *testing.T, b *storage.BucketHandle, hour time.Time, recs ...quarantine.Record) {
	t.Helper()
	var buf bytes.Buffer
	enc := quarantine.NewEncoder(&buf)
	var ids []string
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, recs[i].MessageID)
	}
	writeRaw(t, b, layout.QuarantinePath(prefix, hour, layout.Name(ids)), buf.Bytes())
}

func writeRaw(t *testing.T, b *storage.BucketHandle, name string, data []byte) {
	t.Helper()
	w := b.Object(name).NewWriter(t.Context())
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
}

// TestReplay writes quarantine objects to a bucket of the local stack (one
// message in two objects, one outside the hour range, one object that is
// not a quarantine object) and replays them with each filter to a queue of
// the stack, checking what the queue receives.
func TestReplay(t *testing.T) {
	env := stacktest.Load(t)
	gcs := stacktest.StorageClient(t, env)
	bucket := gcs.Bucket(stacktest.NewBucket(t, env))
	sqsc := stacktest.SQSClient(t, env)

	at := h10.Add(-time.Minute)
	valid := handlertest.UserAction(1, at)
	notUUID := strings.Replace(handlertest.UserAction(2, at), handlertest.EventID(2), "nope", 1)
	seller := handlertest.SellerAction(3, at)
	// The largest body SQS takes with its log_type attribute: 1 MiB in all.
	largest := `{"log_type":"user_action","pad":"` + strings.Repeat("x", producer.MaxMessageBytes-len("log_type")-len("String")-len("user_action")-len(`{"log_type":"user_action","pad":""}`)) + `"}`
	recs := map[string]quarantine.Record{
		"m1": rec("m1", "user_action", "invalid user_action message: event_id: must be a UUID", notUUID),
		"m2": rec("m2", "page_view", `unknown log type "page_view" (known: seller_action, user_action)`, `{"log_type":"page_view","x":1}`),
		"m3": rec("m3", "", "no log_type message attribute and no log_type string field in the body", `{"a":1}`),
		"m4": rec("m4", "user_action", "invalid user_action message: amount_cents: must be at least 0", valid),
		"m5": rec("m5", "seller_action", "invalid seller_action message: x", seller),
		"m6": rec("m6", "user_action", "invalid user_action message: outside the range", valid),
		"m7": rec("m7", "user_action", "body is 1048576 bytes, over the 262144 byte limit", largest),
	}
	writeObject(t, bucket, h10, recs["m1"], recs["m2"], recs["m3"])
	// m1 again: Ore stopped between upload and delete, m1 came back with m4.
	writeObject(t, bucket, h10, recs["m1"], recs["m4"])
	writeObject(t, bucket, h11, recs["m5"], recs["m7"])
	writeObject(t, bucket, h09, recs["m6"])
	writeRaw(t, bucket, layout.HourPrefix(prefix, layout.QuarantineDir, h10)+"notes.txt", []byte("not a quarantine object"))

	want := func(ids ...string) []sent {
		var out []sent
		for _, id := range ids {
			out = append(out, sent{recs[id].Body, recs[id].LogType})
		}
		return sorted(out)
	}
	for _, tc := range []struct {
		name   string
		filter replay.Filter
		dryRun bool
		want   []sent
		counts replay.Counts
	}{
		{"All", replay.Filter{From: h10, To: h11}, false, want("m1", "m2", "m3", "m4", "m5", "m7"),
			replay.Counts{Objects: 3, Records: 7, Matched: 7, Unique: 6, Sent: 6}},
		{"LogType", replay.Filter{From: h10, To: h11.Add(59 * time.Minute), LogType: "user_action"}, false, want("m1", "m4", "m7"),
			replay.Counts{Objects: 3, Records: 7, Matched: 4, Unique: 3, Sent: 3}},
		{"ReasonSubstring", replay.Filter{From: h10, To: h11, Reason: regexp.MustCompile("unknown log type")}, false, want("m2"),
			replay.Counts{Objects: 3, Records: 7, Matched: 1, Unique: 1, Sent: 1}},
		{"ReasonRegexp", replay.Filter{From: h09, To: h11, Reason: regexp.MustCompile(`^invalid (user|seller)_action message: [a-z_]+: must`)}, false, want("m1", "m4"),
			replay.Counts{Objects: 4, Records: 8, Matched: 3, Unique: 2, Sent: 2}},
		{"OneHour", replay.Filter{From: h11.Add(30 * time.Minute), To: h11.Add(31 * time.Minute)}, false, want("m5", "m7"),
			replay.Counts{Objects: 1, Records: 2, Matched: 2, Unique: 2, Sent: 2}},
		{"DryRun", replay.Filter{From: h10, To: h11}, true, nil,
			replay.Counts{Objects: 3, Records: 7, Matched: 7, Unique: 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			queueURL, _ := stacktest.NewQueue(t, env)
			prod, err := producer.New(sqsc, producer.Options{QueueURL: queueURL})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			counts, err := replay.Run(t.Context(), replay.Options{Bucket: bucket, Prefix: prefix, Producer: prod, DryRun: tc.dryRun,
				Progress: progress.Options{Out: &out}}, tc.filter)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if diff := cmp.Diff(tc.counts, counts); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, received(t, env, queueURL)); diff != "" {
				t.Errorf("messages on the queue (-want +got):\n%s", diff)
			}
			if !strings.Contains(out.String(), "replay") || !strings.Contains(out.String(), "finished: ") {
				t.Errorf("progress output %q has no summary line", out.String())
			}
		})
	}

	// Repeating a replay sends the same messages again, unchanged (their
	// event_id makes them count once downstream), and leaves quarantine as
	// it was.
	t.Run("Repeat", func(t *testing.T) {
		queueURL, _ := stacktest.NewQueue(t, env)
		prod, err := producer.New(sqsc, producer.Options{QueueURL: queueURL})
		if err != nil {
			t.Fatal(err)
		}
		before := handlertest.ReadBucket(t, gcs, bucket.BucketName())
		f := replay.Filter{From: h10, To: h10, LogType: "user_action"}
		var got [][]sent
		for range 2 {
			if _, err := replay.Run(t.Context(), replay.Options{Bucket: bucket, Prefix: prefix, Producer: prod}, f); err != nil {
				t.Fatal(err)
			}
			got = append(got, received(t, env, queueURL))
		}
		if diff := cmp.Diff(want("m1", "m4"), got[0]); diff != "" {
			t.Errorf("first replay (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(got[0], got[1]); diff != "" {
			t.Errorf("second replay differs from the first (-first +second):\n%s", diff)
		}
		if diff := cmp.Diff(before, handlertest.ReadBucket(t, gcs, bucket.BucketName())); diff != "" {
			t.Errorf("the bucket changed (-before +after):\n%s", diff)
		}
	})
}

// TestReplayUnsendable: a body over SQS's limit and a body that is not
// UTF-8 (which SQS cannot carry) are counted as failed; the others go.
func TestReplayUnsendable(t *testing.T) {
	env := stacktest.Load(t)
	gcs := stacktest.StorageClient(t, env)
	bucket := gcs.Bucket(stacktest.NewBucket(t, env))
	queueURL, _ := stacktest.NewQueue(t, env)
	prod, err := producer.New(stacktest.SQSClient(t, env), producer.Options{QueueURL: queueURL})
	if err != nil {
		t.Fatal(err)
	}
	over := rec("big", "user_action", "body is 1048577 bytes, over the 1048576 byte limit", strings.Repeat("x", schema.MaxBodyBytes+1))
	binary := rec("bin", "user_action", "body is not a JSON object: not valid UTF-8", "{\xff}")
	if binary.BodyBase64 != base64.StdEncoding.EncodeToString([]byte("{\xff}")) {
		t.Fatalf("the record keeps a non-UTF-8 body as base64: %+v", binary)
	}
	ok := rec("ok", "user_action", "invalid", `{"a":1}`)
	writeObject(t, bucket, h10, over, binary, ok)

	counts, err := replay.Run(t.Context(), replay.Options{Bucket: bucket, Prefix: prefix, Producer: prod}, replay.Filter{From: h10, To: h10})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(replay.Counts{Objects: 1, Records: 3, Matched: 3, Unique: 3, Sent: 1, Failed: 2}, counts); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]sent{{`{"a":1}`, "user_action"}}, received(t, env, queueURL)); diff != "" {
		t.Errorf("messages on the queue (-want +got):\n%s", diff)
	}
}

func TestReplayErrors(t *testing.T) {
	env := stacktest.Load(t)
	gcs := stacktest.StorageClient(t, env)
	bucket := gcs.Bucket(stacktest.NewBucket(t, env))
	writeRaw(t, bucket, layout.QuarantinePath(prefix, h10, strings.Repeat("a", layout.NameLen)), []byte("{not json\n"))
	for _, tc := range []struct {
		name   string
		o      replay.Options
		f      replay.Filter
		wantIn string
	}{
		{"BadRecord", replay.Options{Bucket: bucket, Prefix: prefix, DryRun: true}, replay.Filter{From: h10, To: h10}, "line 1: not a quarantine record"},
		{"NoBucket", replay.Options{Bucket: gcs.Bucket(bucket.BucketName() + "-missing"), Prefix: prefix, DryRun: true}, replay.Filter{From: h10, To: h10}, "list gs://"},
		{"Reversed", replay.Options{Bucket: bucket, DryRun: true}, replay.Filter{From: h11, To: h10}, "the hour range ends (2026-11-26T10:00:00Z) before it starts (2026-11-26T11:00:00Z)"},
		{"TooLong", replay.Options{Bucket: bucket, DryRun: true}, replay.Filter{From: h10, To: h10.Add(replay.MaxRange + time.Hour)}, "longer than 93 days"},
		{"NoProducer", replay.Options{Bucket: bucket}, replay.Filter{From: h10, To: h10}, "no producer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := replay.Run(t.Context(), tc.o, tc.f)
			if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("Run error %v, want one containing %q", err, tc.wantIn)
			}
		})
	}
}

// received returns what the queue holds, sorted, and empties it.
func received(t *testing.T, env stacktest.Env, queueURL string) []sent {
	t.Helper()
	var out []sent
	for _, m := range stacktest.ReceiveAll(t, env, queueURL) {
		out = append(out, sent{aws.ToString(m.Body), logTypeOf(m)})
	}
	return sorted(out)
}

func logTypeOf(m sqstypes.Message) string {
	a, ok := m.MessageAttributes[schema.AttributeLogType]
	if !ok {
		return ""
	}
	if aws.ToString(a.DataType) != "String" {
		return "data type " + aws.ToString(a.DataType)
	}
	return aws.ToString(a.StringValue)
}

func sorted(s []sent) []sent {
	slices.SortFunc(s, func(a, b sent) int { return strings.Compare(a.Body+"\x00"+a.LogType, b.Body+"\x00"+b.LogType) })
	return s
}
