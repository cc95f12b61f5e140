package poller

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// TestCountAttemptsSeesSDKRetries checks that countAttempts counts the
// attempts the SDK makes on its own: a 500 then a good answer is one call
// that succeeds after two attempts.
func TestCountAttemptsSeesSDKRetries(t *testing.T) {
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{"Messages":[]}`))
	}))
	defer srv.Close()
	client := sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	for _, tc := range []struct {
		name         string
		wantAttempts int64
	}{{"first call: 500, then OK", 2}, {"second call: OK", 1}} {
		var attempts atomic.Int64
		if _, err := client.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(srv.URL + "/q")}, countAttempts(&attempts)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := attempts.Load(); got != tc.wantAttempts {
			t.Errorf("%s: %d attempts counted, want %d", tc.name, got, tc.wantAttempts)
		}
	}
}
