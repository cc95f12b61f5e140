// Package producer publishes log events to the pipeline's SQS queue from Go
// services. It owns the producer side of the message contract: every event
// is validated against the newest definition of its log type (package
// schema) before anything is sent, carries the String message attribute
// log_type, and is packed with others into SendMessageBatch calls of at most
// ten entries within the SQS payload limit. Entries that SQS reports as
// failed through no fault of the sender, and whole calls that fail
// transiently, are retried with bounded exponential backoff and jitter.
// Every event gets its own Result; an invalid event is reported there and
// never sent.
//
// Delivery is at least once: a call that timed out may have reached the
// queue, and retrying it can enqueue an event twice. The event_id in the
// body is the idempotency key downstream, so duplicates are harmless.
//
// # Wiring the SQS client
//
// The package never reads the environment and never logs; the caller builds
// the client. Real SQS and the local emulator differ only in the endpoint:
//
//	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
//	if err != nil {
//		return fmt.Errorf("load AWS config: %w", err)
//	}
//	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
//		if endpoint != "" { // SQS_ENDPOINT, e.g. the local stack's fauxqs
//			o.BaseEndpoint = aws.String(endpoint)
//		}
//	})
//	p, err := producer.New(client, producer.Options{QueueURL: queueURL})
//	if err != nil {
//		return err
//	}
//	results := p.PublishBatch(ctx, events)
//
// where config is github.com/aws/aws-sdk-go-v2/config and sqs is
// github.com/aws/aws-sdk-go-v2/service/sqs. Credentials come from the usual
// AWS chain (for the emulator any static key works, e.g. AWS_ACCESS_KEY_ID
// and AWS_SECRET_ACCESS_KEY from the local stack's env file). The SDK's own
// retryer still retries each call; Options.MaxAttempts bounds the retries
// this package adds on top, per event.
//
// The queue must be a standard queue: the producer sets no message group or
// deduplication id, so a FIFO queue rejects every entry.
package producer
