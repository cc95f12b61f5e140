package localstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"
)

// Defaults of the local stack.
const (
	Region          = "us-east-1"
	AccessKeyID     = "test"
	SecretAccessKey = "test"
	Project         = "local-project"
	QueueName       = "ore-events"
	DLQName         = QueueName + "-dlq"
	Bucket          = "ore-masora-local"
	Dataset         = "ore_masora"
	// MaxReceiveCount is how often a message of QueueName is received before it moves to the DLQ.
	MaxReceiveCount = 3
	// VisibilityTimeoutSeconds is QueueName's visibility timeout.
	VisibilityTimeoutSeconds = 30
)

// SQSClient talks to the SQS emulator at endpoint with the stack's fixed region and credentials.
func SQSClient(endpoint string) *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
	})
}

// CreateQueues creates the queue name and its dead-letter queue name+"-dlq" (with the
// stack's redrive policy and visibility timeout) on the SQS emulator at endpoint and
// returns their URLs. Existing queues with the same attributes are fine.
func CreateQueues(ctx context.Context, endpoint, name string) (queueURL, dlqURL string, err error) {
	client := SQSClient(endpoint)
	dlqName := name + "-dlq"
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
			string(sqstypes.QueueAttributeNameRedrivePolicy):     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, arn, MaxReceiveCount),
			string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(VisibilityTimeoutSeconds),
		},
	})
	if err != nil {
		return "", "", fmt.Errorf("create SQS queue %s: %w", name, err)
	}
	return aws.ToString(q.QueueUrl), aws.ToString(dlq.QueueUrl), nil
}

// StorageClient talks to the GCS emulator at endpoint (http://host:port), reading objects
// through the JSON API, which fake-gcs-server serves whatever host the client names.
func StorageClient(ctx context.Context, endpoint string) (*storage.Client, error) {
	client, err := storage.NewClient(ctx,
		option.WithEndpoint(endpoint+"/storage/v1/"),
		option.WithoutAuthentication(),
		storage.WithJSONReads())
	if err != nil {
		return nil, fmt.Errorf("GCS client for %s: %w", endpoint, err)
	}
	return client, nil
}

// createBucket creates the default bucket on the GCS emulator; an existing one is fine.
func createBucket(ctx context.Context, endpoint string) error {
	client, err := StorageClient(ctx, endpoint)
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.Bucket(Bucket).Create(ctx, Project, nil); err != nil && !isConflict(err) {
		return fmt.Errorf("create GCS bucket %s: %w", Bucket, err)
	}
	return nil
}

// createDataset creates the default dataset on the BigQuery emulator; an existing one is fine.
func createDataset(ctx context.Context, endpoint string) error {
	client, err := bigquery.NewClient(ctx, Project,
		option.WithEndpoint(endpoint),
		option.WithoutAuthentication())
	if err != nil {
		return fmt.Errorf("BigQuery client for %s: %w", endpoint, err)
	}
	defer client.Close()
	if err := client.Dataset(Dataset).Create(ctx, &bigquery.DatasetMetadata{Location: "US"}); err != nil && !isConflict(err) {
		return fmt.Errorf("create BigQuery dataset %s.%s: %w", Project, Dataset, err)
	}
	return nil
}

func isConflict(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusConflict
}
