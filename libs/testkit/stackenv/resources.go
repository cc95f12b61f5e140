package stackenv

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// The stack's fixed names and settings.
const (
	Region          = "us-east-1"
	AccessKeyID     = "test"
	SecretAccessKey = "test"
	Project         = "local-project"
	// QueueName is the stack's default queue; its dead-letter queue is DLQName.
	QueueName = "ore-events"
	// DLQSuffix is appended to a queue's name to name its dead-letter queue.
	DLQSuffix = "-dlq"
	DLQName   = QueueName + DLQSuffix
	Bucket    = "ore-masora-local"
	Dataset   = "ore_masora"
	// DatasetLocation is where the default dataset lives.
	DatasetLocation = "US"
)

// QueueOptions tune the queues CreateQueues makes.
type QueueOptions struct {
	// MaxReceiveCount is how often a message is received before it moves to
	// the dead-letter queue; 0 means 3.
	MaxReceiveCount int
	// VisibilityTimeout, in whole seconds, is the queue's visibility timeout;
	// 0 means 30s. Keep it at 3s or more: shorter ones collide with long polls
	// on the emulator.
	VisibilityTimeout time.Duration
}

// Defaults of QueueOptions.
const (
	DefaultMaxReceiveCount   = 3
	DefaultVisibilityTimeout = 30 * time.Second
)

// SQSClient talks to the SQS emulator at endpoint with the stack's region and
// credentials.
func SQSClient(endpoint string) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
	})
}

// CreateQueues creates the queue name and its dead-letter queue
// name+DLQSuffix, with a redrive policy and visibility timeout from opts, and
// returns their URLs. Existing queues with the same attributes are fine.
func CreateQueues(ctx context.Context, client *sqs.Client, name string, opts QueueOptions) (queueURL, dlqURL string, err error) {
	if opts.MaxReceiveCount == 0 {
		opts.MaxReceiveCount = DefaultMaxReceiveCount
	}
	if opts.VisibilityTimeout == 0 {
		opts.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if opts.MaxReceiveCount < 1 {
		return "", "", fmt.Errorf("queue %s: max receive count %d: want at least 1", name, opts.MaxReceiveCount)
	}
	dlqName := name + DLQSuffix
	dlq, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(dlqName)})
	if err != nil {
		return "", "", fmt.Errorf("create SQS queue %s: %w", dlqName, err)
	}
	attrs, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       dlq.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("get ARN of SQS queue %s: %w", dlqName, err)
	}
	arn := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", "", fmt.Errorf("SQS queue %s has no QueueArn attribute", dlqName)
	}
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(name),
		Attributes: map[string]string{
			string(sqstypes.QueueAttributeNameRedrivePolicy):     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, arn, opts.MaxReceiveCount),
			string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(opts.VisibilityTimeout / time.Second)),
		},
	})
	if err != nil {
		return "", aws.ToString(dlq.QueueUrl), fmt.Errorf("create SQS queue %s: %w", name, err)
	}
	return aws.ToString(q.QueueUrl), aws.ToString(dlq.QueueUrl), nil
}

// StorageClient talks to the GCS emulator at endpoint (http://host:port),
// reading objects through the JSON API, which fake-gcs-server serves whatever
// host the client names.
func StorageClient(ctx context.Context, endpoint string) (*storage.Client, error) {
	client, err := storage.NewClient(ctx,
		option.WithEndpoint(strings.TrimRight(endpoint, "/")+"/storage/v1/"),
		option.WithoutAuthentication(),
		storage.WithJSONReads())
	if err != nil {
		return nil, fmt.Errorf("GCS client for %s: %w", endpoint, err)
	}
	return client, nil
}

// CreateBucket creates the bucket name in project; an existing one is fine.
func CreateBucket(ctx context.Context, client *storage.Client, project, name string) error {
	if err := client.Bucket(name).Create(ctx, project, nil); err != nil && !isConflict(err) {
		return fmt.Errorf("create GCS bucket %s: %w", name, err)
	}
	return nil
}

// CreateDataset creates the dataset project.name, in DatasetLocation, on the
// BigQuery emulator at endpoint; an existing one is fine. It looks first, since the
// emulator answers 500, not 409, to the creation of a dataset that exists.
func CreateDataset(ctx context.Context, endpoint, project, name string) error {
	client, err := bigquery.NewClient(ctx, project,
		option.WithEndpoint(endpoint),
		option.WithoutAuthentication())
	if err != nil {
		return fmt.Errorf("BigQuery client for %s: %w", endpoint, err)
	}
	defer client.Close()
	ds := client.Dataset(name)
	if _, err := ds.Metadata(ctx); err == nil {
		return nil
	}
	if err := ds.Create(ctx, &bigquery.DatasetMetadata{Location: DatasetLocation}); err != nil && !isConflict(err) {
		return fmt.Errorf("create BigQuery dataset %s.%s: %w", project, name, err)
	}
	return nil
}

func isConflict(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusConflict
}
