package producer_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/producer/producertest"
)

// BenchmarkPublishBatch measures the producer's own work per event
// (validation, packing, building the calls) against a client that accepts
// every entry at no cost.
func BenchmarkPublishBatch(b *testing.B) {
	events := make([]producer.Event, 100)
	for i := range events {
		if i%2 == 0 {
			events[i] = producertest.Event(b, "user_action", i, 0)
		} else {
			events[i] = producertest.Event(b, "seller_action", i, 0)
		}
	}
	accept := clientFunc(func(_ context.Context, in *sqs.SendMessageBatchInput) (*sqs.SendMessageBatchOutput, error) {
		out := &sqs.SendMessageBatchOutput{Successful: make([]types.SendMessageBatchResultEntry, len(in.Entries))}
		for i, e := range in.Entries {
			out.Successful[i] = types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("m")}
		}
		return out, nil
	})
	p := newProducer(b, accept, producer.Options{})
	bytes := 0
	for _, ev := range events {
		bytes += len(ev.Body)
	}
	b.SetBytes(int64(bytes))
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		for _, r := range p.PublishBatch(ctx, events) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "events/s")
}
