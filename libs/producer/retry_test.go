package producer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

func TestBackoffIsBoundedAndGrows(t *testing.T) {
	p, err := New(clientStub{}, Options{QueueURL: "q", BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ms := time.Millisecond
	// Ceilings: 100ms doubling to the 1s cap; each wait is in [ceiling/2, ceiling].
	wantLow := []time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms, 500 * ms, 500 * ms}
	wantHigh := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second, time.Second}
	var low, high []time.Duration
	for n := 1; n <= len(wantLow); n++ {
		p.jitter = func(int64) int64 { return 0 }
		low = append(low, p.backoff(n))
		p.jitter = func(n int64) int64 { return n - 1 }
		high = append(high, p.backoff(n))
	}
	if diff := cmp.Diff(wantLow, low); diff != "" {
		t.Errorf("shortest waits (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantHigh, high); diff != "" {
		t.Errorf("longest waits (-want +got):\n%s", diff)
	}

	p.jitter = func(int64) int64 { t.Fatal("jitter called"); return 0 }
	p.backoffBase, p.backoffMax = time.Nanosecond, time.Nanosecond
	if got := p.backoff(1000); got != time.Nanosecond {
		t.Errorf("backoff(1000) with a 1ns cap = %v; want 1ns", got)
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"server fault", &smithy.GenericAPIError{Code: "InternalError", Fault: smithy.FaultServer}, true},
		{"throttled", &smithy.GenericAPIError{Code: "RequestThrottled", Fault: smithy.FaultClient}, true},
		{"dial", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"connection reset", fmt.Errorf("read: connection reset by peer"), true},
		{"SDK gave up on a server fault", &retry.MaxAttemptsError{Attempt: 3, Err: &smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer}}, true},
		{"no such queue", &types.QueueDoesNotExist{}, false},
		{"batch too long", &types.BatchRequestTooLong{}, false},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDenied", Fault: smithy.FaultClient}, false},
		{"cancelled", &smithy.CanceledError{Err: context.Canceled}, false},
		{"unknown", errors.New("something else"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := transient(tt.err); got != tt.want {
				t.Errorf("transient(%v) = %v; want %v", tt.err, got, tt.want)
			}
		})
	}
}

// clientStub satisfies SendMessageBatchAPI for tests that never send.
type clientStub struct{ SendMessageBatchAPI }
