package stacktest

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ReceiveAll receives every message of a queue of the stack, with all its
// message attributes, deletes each, and returns them in the order received.
// It stops when a one-second long poll finds the queue empty, so messages
// in flight elsewhere (hidden by another receive) are not waited for.
func ReceiveAll(t testing.TB, env Env, queueURL string) []sqstypes.Message {
	t.Helper()
	client := SQSClient(t, env)
	var all []sqstypes.Message
	for {
		out, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
			QueueUrl:              aws.String(queueURL),
			MaxNumberOfMessages:   10,
			WaitTimeSeconds:       1,
			MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			t.Fatalf("stacktest: receive from %s: %v", queueURL, err)
		}
		if len(out.Messages) == 0 {
			return all
		}
		for _, m := range out.Messages {
			if _, err := client.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("stacktest: delete from %s: %v", queueURL, err)
			}
		}
		all = append(all, out.Messages...)
	}
}
