// Package dlq reads the depth of the SQS dead-letter queue for Masora's
// status page: ApproximateNumberOfMessages through GetQueueAttributes, with
// the AWS SDK's default configuration chain (AWS_REGION, the credentials of
// the environment, a shared profile or a role). Masora never receives from
// or sends to the queue.
package dlq

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Options configure a Queue.
type Options struct {
	// URL is the dead-letter queue's URL.
	URL string
	// Region is the queue's region; empty leaves it to the SDK's chain
	// (AWS_REGION, AWS_DEFAULT_REGION, the shared config file).
	Region string
	// Endpoint replaces the AWS endpoint (an SQS emulator); empty: AWS.
	Endpoint string
}

// Queue reads a dead-letter queue's depth.
type Queue struct {
	url    string
	client *sqs.Client
	// err is the error of loading the AWS configuration: Depth returns it,
	// so that a bad AWS set-up shows on the status page instead of
	// stopping Masora, which does not need the queue to load.
	err error
}

// New returns the queue of o. An AWS configuration that cannot be loaded
// is reported by every Depth call.
func New(ctx context.Context, o Options) *Queue {
	q := &Queue{url: o.URL}
	var opts []func(*awsconfig.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, awsconfig.WithRegion(o.Region))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		q.err = fmt.Errorf("load the AWS configuration for the DLQ %s: %w", o.URL, err)
		return q
	}
	q.client = sqs.NewFromConfig(cfg, func(so *sqs.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
	})
	return q
}

// Depth returns the queue's ApproximateNumberOfMessages: the messages
// waiting to be received, which SQS documents as approximate.
func (q *Queue) Depth(ctx context.Context) (int64, error) {
	if q.err != nil {
		return 0, q.err
	}
	name := sqstypes.QueueAttributeNameApproximateNumberOfMessages
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(q.url),
		AttributeNames: []sqstypes.QueueAttributeName{name},
	})
	if err != nil {
		return 0, fmt.Errorf("read the depth of the DLQ %s: %w", q.url, err)
	}
	v, ok := out.Attributes[string(name)]
	if !ok {
		return 0, fmt.Errorf("read the depth of the DLQ %s: the answer has no %s", q.url, name)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read the depth of the DLQ %s: %s %q is not a number", q.url, name, v)
	}
	return n, nil
}
