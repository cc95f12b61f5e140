package load

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat: 100
// on every Linux this runs on (it is fixed in the kernel's ABI for x86 and
// arm64).
const clockTicks = 100

// Process is one process (or process group) whose memory and CPU a load run
// reports: Ore, Masora and each emulator of the stack.
type Process struct {
	Name string
	// Ours is true for Ore and Masora, false for the emulators and Postgres.
	Ours bool
	// PID is the process; with Group set, the leader of a process group
	// whose members are all counted (PostgreSQL's backends).
	PID   int
	Group bool
}

// ProcessFigures are a process's measured figures.
type ProcessFigures struct {
	Name string `json:"name"`
	Ours bool   `json:"ours"`
	// HWMMiB is the process's VmHWM (peak resident set) at the end; for a
	// group, the largest of its processes'.
	HWMMiB float64 `json:"hwm_mib"`
	// PeakGroupMiB is the highest sum of VmRSS over the group's processes
	// seen by the sampler (once a second); equal to the process's own RSS
	// for a single process.
	PeakGroupMiB float64 `json:"peak_group_mib"`
	// CPUSeconds is the CPU time (user + system, and of reaped children)
	// spent during the run; Utilization is CPUSeconds over the run's wall
	// time (1.0 = one core busy all the time).
	CPUSeconds  float64 `json:"cpu_seconds"`
	Utilization float64 `json:"utilization"`
}

// pids returns p's process, or its group's processes.
func (p Process) pids() []int {
	if !p.Group {
		return []int{p.PID}
	}
	var out []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if st, err := readStat(pid); err == nil && st.pgrp == p.PID {
			out = append(out, pid)
		}
	}
	return out
}

// stat is what a load run reads from /proc/PID/stat.
type stat struct {
	pgrp int
	// cpu is utime + stime + cutime + cstime.
	cpu time.Duration
}

func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, err
	}
	// The command name, in parentheses, may hold spaces: fields start after
	// the last ')'. Then: state(3) ppid(4) pgrp(5) ... utime(14) stime(15)
	// cutime(16) cstime(17), numbered from 1 with pid.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return stat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	field := func(n int) int64 { // n as numbered in proc(5)
		v, _ := strconv.ParseInt(f[n-3], 10, 64)
		return v
	}
	ticks := field(14) + field(15) + field(16) + field(17)
	return stat{pgrp: int(field(5)), cpu: time.Duration(ticks) * time.Second / clockTicks}, nil
}

// readMemory returns VmHWM and VmRSS of pid, in bytes.
func readMemory(pid int) (hwm, rss int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmHWM" {
			hwm = kb << 10
		} else {
			rss = kb << 10
		}
	}
	return hwm, rss, sc.Err()
}

// cpu returns the CPU time of p's processes.
func (p Process) cpu() time.Duration {
	var total time.Duration
	for _, pid := range p.pids() {
		if st, err := readStat(pid); err == nil {
			total += st.cpu
		}
	}
	return total
}

// groupRSS returns the sum of VmRSS of p's processes.
func (p Process) groupRSS() int64 {
	var total int64
	for _, pid := range p.pids() {
		if _, rss, err := readMemory(pid); err == nil {
			total += rss
		}
	}
	return total
}

// sampler follows processes during a run: CPU time at the start, the peak
// group RSS once a second, VmHWM and CPU time when Stop is called.
type sampler struct {
	mu       sync.Mutex
	procs    []Process
	startCPU map[string]time.Duration
	peak     map[string]int64
	started  time.Time
	stop     chan struct{}
	done     chan struct{}
}

func newSampler(procs []Process) *sampler {
	s := &sampler{procs: procs, startCPU: map[string]time.Duration{}, peak: map[string]int64{}, started: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{})}
	for _, p := range procs {
		s.startCPU[p.Name] = p.cpu()
	}
	go s.loop()
	return s
}

func (s *sampler) loop() {
	defer close(s.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *sampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		s.peak[p.Name] = max(s.peak[p.Name], p.groupRSS())
	}
}

// Stop ends the sampling and returns every process's figures and the
// seconds sampled; call it before the processes exit.
func (s *sampler) Stop() ([]ProcessFigures, float64) {
	close(s.stop)
	<-s.done
	s.sample()
	wall := time.Since(s.started).Seconds()
	out := make([]ProcessFigures, 0, len(s.procs))
	for _, p := range s.procs {
		var hwm int64
		for _, pid := range p.pids() { // the group's largest: its server, not a wrapper
			if h, _, err := readMemory(pid); err == nil {
				hwm = max(hwm, h)
			}
		}
		cpu := (p.cpu() - s.startCPU[p.Name]).Seconds()
		out = append(out, ProcessFigures{Name: p.Name, Ours: p.Ours, HWMMiB: mib(hwm), PeakGroupMiB: mib(s.peak[p.Name]),
			CPUSeconds: cpu, Utilization: cpu / wall})
	}
	return out, wall
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// loadAverage returns the first line of /proc/loadavg, what `uptime`
// prints as the load average.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return strings.TrimSpace(string(b))
	}
	return strings.Join(f[:3], " ")
}
