package poller

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
)

// TestGather checks how messages are cut into batches: by count, by bytes,
// by the batch window, and at once without a window.
func TestGather(t *testing.T) {
	tests := []struct {
		desc   string
		opts   Options
		bodies []int // body sizes, sent one after another
		pause  time.Duration
		want   []int // batch sizes
	}{
		{"by count", Options{BatchSize: 3, MaxBatchBytes: 1 << 20, BatchWindow: time.Hour}, []int{1, 1, 1, 1, 1, 1, 1}, 0, []int{3, 3, 1}},
		{"by bytes", Options{BatchSize: 100, MaxBatchBytes: 10, BatchWindow: time.Hour}, []int{4, 4, 4, 10, 1}, 0, []int{2, 1, 1, 1}},
		{"one message over the byte limit goes alone", Options{BatchSize: 100, MaxBatchBytes: 10, BatchWindow: time.Hour}, []int{11, 11}, 0, []int{1, 1}},
		{"by window", Options{BatchSize: 100, MaxBatchBytes: 1 << 20, BatchWindow: 10 * time.Millisecond}, []int{1, 1, 1}, 100 * time.Millisecond, []int{1, 1, 1}},
		{"no window", Options{BatchSize: 100, MaxBatchBytes: 1 << 20}, []int{1, 1}, 50 * time.Millisecond, []int{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			p := &Poller{opts: tt.opts}
			in := make(chan received)
			out := make(chan batch)
			go p.gather(in, out)
			go func() {
				for _, n := range tt.bodies {
					in <- received{msg: events.SQSMessage{Body: strings.Repeat("x", n)}, at: time.Now()}
					time.Sleep(tt.pause)
				}
				close(in)
			}()
			var got []int
			for b := range out {
				got = append(got, len(b.msgs))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("batch sizes (-want +got):\n%s", diff)
			}
		})
	}
}
