// Package memsample measures the memory Ore's benchmarks use: the peak Go
// heap, sampled while code runs, and the process's peak resident set size.
package memsample

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"sync"
	"time"
)

// heapMetric is the memory occupied by live and not yet swept heap objects.
const heapMetric = "/memory/classes/heap/objects:bytes"

// Sampler records the largest heap size seen between Start and Stop.
type Sampler struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak uint64
}

// Start samples the heap every interval until Stop.
func Start(interval time.Duration) *Sampler {
	s := &Sampler{stop: make(chan struct{})}
	sample := []metrics.Sample{{Name: heapMetric}}
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > s.peak {
			s.peak = v
		}
	}
	read()
	s.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	})
	return s
}

// Stop ends sampling and returns the peak heap size in bytes.
func (s *Sampler) Stop() uint64 {
	close(s.stop)
	s.wg.Wait()
	return s.peak
}

// PeakRSS returns the process's peak resident set size (VmHWM) in bytes.
// It works on Linux only.
func PeakRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read peak RSS: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmHWM:")); ok {
			kb, err := strconv.ParseUint(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmHWM %q: %w", v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/self/status")
}

// ResetPeakRSS resets the peak resident set size that PeakRSS reports to
// the current one, so that a later PeakRSS measures from now. Linux only.
func ResetPeakRSS() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("reset peak RSS: %w", err)
	}
	return nil
}
