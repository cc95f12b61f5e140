package dlq_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ore-masora/pipeline/libs/testkit/stacktest"
	"github.com/ore-masora/pipeline/services/masora/internal/dlq"
)

// TestDepth reads the depth of a dead-letter queue on the stack's SQS
// emulator, through the SDK's default chain as Masora does (credentials
// from the environment).
func TestDepth(t *testing.T) {
	env := stacktest.Load(t)
	t.Setenv("AWS_ACCESS_KEY_ID", env.AWSAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", env.AWSSecretAccessKey)
	_, dlqURL := stacktest.NewQueue(t, env)
	client := stacktest.SQSClient(t, env)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	q := dlq.New(ctx, dlq.Options{URL: dlqURL, Region: env.AWSRegion, Endpoint: env.SQSEndpoint})
	for want := range int64(4) {
		got, err := q.Depth(ctx)
		if err != nil {
			t.Fatalf("Depth: %v", err)
		}
		if got != want {
			t.Fatalf("Depth = %d, want %d", got, want)
		}
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(dlqURL), MessageBody: aws.String(fmt.Sprint("dead ", want))}); err != nil {
			t.Fatal(err)
		}
	}

	missing := dlqURL + "-missing"
	_, err := dlq.New(ctx, dlq.Options{URL: missing, Region: env.AWSRegion, Endpoint: env.SQSEndpoint}).Depth(ctx)
	if err == nil || !strings.Contains(err.Error(), "read the depth of the DLQ "+missing) {
		t.Errorf("Depth of a missing queue = %v, want an error naming it", err)
	}
}
