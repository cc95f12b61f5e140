package handler_test

import (
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/services/ore/internal/handler/handlertest"
	"github.com/ore-masora/pipeline/services/ore/internal/objstore/memstore"
)

// FuzzHandleMessage feeds one message with an arbitrary body and log_type
// attribute through the handler. Whatever the input, the handler must not
// fail and must put the message in exactly one place: a parquet row that
// reads back, or quarantine with its original body. The seed corpus is in
// testdata/fuzz/FuzzHandleMessage.
func FuzzHandleMessage(f *testing.F) {
	f.Add(handlertest.UserAction(1, now), "user_action")
	f.Add(handlertest.SellerAction(2, now), "")
	f.Add(`{"log_type":"user_action","event_id":"x"}`, "")
	reg := schema.MustLoad()
	f.Fuzz(func(t *testing.T, body, logType string) {
		store := memstore.New()
		h := newHandler(t, store, nil, nil)
		resp, err := h.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{handlertest.Message("m-1", logType, body)}})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle = %v, %v; want the message settled", resp, err)
		}
		out := handlertest.ReadOutcome(t, prefix, objects(store))
		if len(out.Files)+len(out.Quarantine) != 1 {
			t.Fatalf("message in %d files and %d quarantine objects, want exactly one place", len(out.Files), len(out.Quarantine))
		}
		for path, ids := range out.Files {
			if len(ids) != 1 || ids[0] != "m-1" {
				t.Fatalf("%s holds %v, want m-1", path, ids)
			}
			name := logType
			if name == "" {
				name, _ = schema.PeekLogType([]byte(body))
			}
			lt, err := reg.Latest(name)
			if err != nil {
				t.Fatalf("a file was written for log type %q: %v", name, err)
			}
			if _, err := lt.Decode([]byte(body)); err != nil {
				t.Fatalf("a file was written for a body that does not decode: %v", err)
			}
		}
		for _, recs := range out.Quarantine {
			if len(recs) != 1 || recs[0].MessageID != "m-1" || recs[0].Reason == "" {
				t.Fatalf("quarantine %+v, want m-1 with a reason", recs)
			}
			if utf8.ValidString(body) && recs[0].Body != body {
				t.Fatalf("quarantine body %q, want the original %q", recs[0].Body, body)
			}
		}
	})
}
