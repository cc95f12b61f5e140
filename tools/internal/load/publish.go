package load

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ore-masora/pipeline/libs/producer"
	"github.com/ore-masora/pipeline/libs/progress"
	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/libs/schema/eventgen"
	"github.com/ore-masora/pipeline/libs/testkit/invariant"
)

// senders is the number of concurrent SendMessageBatch callers.
const senders = 8

// mix names the log type of event k: one in five is a seller_action, as in
// the demo's traffic.
func mix(k int) string {
	if k%5 == 4 {
		return "seller_action"
	}
	return "user_action"
}

// publisher publishes generated events through libs/producer and records,
// per event id, when it was handed to SQS.
type publisher struct {
	prod *producer.Producer
	gen  *eventgen.Gen

	mu        sync.Mutex
	sentAt    map[string]time.Time // event id (lower case) → publish time
	published invariant.Published
	bodyBytes int64
	failed    []error

	events atomic.Int64
}

func newPublisher(prod *producer.Producer, reg *schema.Registry, seed uint64, start time.Time, rate float64) (*publisher, error) {
	step := time.Second
	if rate > 0 {
		step = max(time.Duration(float64(time.Second)/rate), time.Microsecond)
	}
	gen, err := eventgen.New(reg, eventgen.Options{Seed: seed, Start: start, Step: step, OptionalRate: 0.5})
	if err != nil {
		return nil, fmt.Errorf("event generator: %w", err)
	}
	return &publisher{prod: prod, gen: gen, sentAt: map[string]time.Time{}}, nil
}

// send publishes events first..first+n-1 in one SendMessageBatch.
func (p *publisher) send(ctx context.Context, first, n int) error {
	evs := make([]producer.Event, 0, n)
	var size int64
	for k := first; k < first+n; k++ {
		ev, err := p.gen.Event(mix(k), k)
		if err != nil {
			return err
		}
		evs = append(evs, producer.Event{LogType: ev.LogType, Body: ev.Body})
		size += int64(len(ev.Body))
	}
	at := time.Now()
	results := p.prod.PublishBatch(ctx, evs)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, r := range results {
		if r.Err != nil {
			p.failed = append(p.failed, fmt.Errorf("event %s: %w", r.EventID, r.Err))
			continue
		}
		p.sentAt[strings.ToLower(r.EventID)] = at
		p.published.AddEvent(evs[i].LogType, r.EventID)
	}
	p.bodyBytes += size
	p.events.Add(int64(len(results)))
	return nil
}

// runAtRate publishes at rate events a second for d, in batches of ten, and
// returns when every batch due was sent (or ctx ended). Senders that fall
// behind lower the achieved rate; they never bunch sends into the past.
func (p *publisher) runAtRate(ctx context.Context, rate float64, d time.Duration, prog *progress.Reporter) error {
	total := int(rate * d.Seconds())
	return p.runBatches(ctx, total, prog, func(k int) time.Duration {
		return time.Duration(float64(k) / rate * float64(time.Second))
	})
}

// runAll publishes n events as fast as the senders go.
func (p *publisher) runAll(ctx context.Context, n int) error {
	return p.runBatches(ctx, n, nil, func(int) time.Duration { return 0 })
}

// runBatches publishes events 0..total-1 in batches of ten; batch k starts
// no earlier than due(first event of k) after the start.
func (p *publisher) runBatches(ctx context.Context, total int, prog *progress.Reporter, due func(int) time.Duration) error {
	const batch = producer.MaxBatchEntries
	jobs := make(chan int)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for range senders {
		wg.Go(func() {
			for first := range jobs {
				n := min(batch, total-first)
				if err := p.send(ctx, first, n); err != nil {
					errs <- err
					return
				}
				if prog != nil {
					prog.Add(int64(n))
				}
			}
		})
	}
	var err error
feed:
	for first := 0; first < total; first += batch {
		if wait := time.Until(start.Add(due(first))); wait > 0 {
			select {
			case <-ctx.Done():
				err = ctx.Err()
				break feed
			case <-time.After(wait):
			}
		}
		select {
		case jobs <- first:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err == nil {
		err = <-errs
	}
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failed) > 0 {
		return fmt.Errorf("publish: %d events failed, first: %w", len(p.failed), p.failed[0])
	}
	return nil
}
