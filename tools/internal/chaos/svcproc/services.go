package svcproc

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// OrePoll returns env set for Ore in poll mode with short windows, as the
// local stack wants them (waits of a second, a one-second batch window).
func OrePoll(env Env) Env {
	return env.With("ORE_MODE", "poll", "ORE_POLL_BATCH_WINDOW", "1s", "ORE_POLL_WAIT_TIME", "1s")
}

// StartOre starts Ore in poll mode (OrePoll over env).
func StartOre(bins Binaries, env Env, logs io.Writer) (*Proc, error) {
	return Start(bins.Ore, nil, OrePoll(env), logs)
}

// Migrate runs `masora migrate`.
func Migrate(ctx context.Context, bins Binaries, env Env, logs io.Writer) error {
	return Run(ctx, bins.Masora, []string{"migrate"}, env, logs)
}

// Masora is a running `masora serve` on 127.0.0.1 with a bearer token of
// its own.
type Masora struct {
	*Proc
	// URL is the service's base URL, http://127.0.0.1:PORT.
	URL   string
	token string
}

// StartMasora starts `masora serve` on a free port with a fresh bearer
// token (MASORA_AUTH_TOKEN) and waits until it answers /healthz.
func StartMasora(ctx context.Context, bins Binaries, env Env, logs io.Writer) (*Masora, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, fmt.Errorf("bearer token: %w", err)
	}
	m := &Masora{URL: "http://127.0.0.1:" + strconv.Itoa(port), token: hex.EncodeToString(tok[:])}
	if m.Proc, err = Start(bins.Masora, []string{"serve"}, env.With("PORT", strconv.Itoa(port), "MASORA_AUTH_TOKEN", m.token), logs); err != nil {
		return nil, err
	}
	if err := m.waitHealthy(ctx, 30*time.Second); err != nil {
		m.Kill()
		return nil, err
	}
	return m, nil
}

func (m *Masora) waitHealthy(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.URL+"/healthz", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("masora did not answer %s/healthz within %s:\n%s", m.URL, within, m.Tail())
		}
		select {
		case <-m.Done():
			return fmt.Errorf("masora exited during start-up: %v\n%s", m.err, m.Tail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RunOutcome is one log type's outcome in Masora's answer to /run and
// /backfill.
type RunOutcome struct {
	RunID         int64  `json:"run_id"`
	LogType       string `json:"log_type"`
	Status        string `json:"status"`
	ObjectsNew    int    `json:"objects_new"`
	ObjectsLoaded int    `json:"objects_loaded"`
	Rows          int64  `json:"rows_loaded"`
	Duplicates    int64  `json:"duplicates_skipped"`
	Error         string `json:"error"`
}

// Answer is Masora's answer to /run or /backfill.
type Answer struct {
	// Code is the HTTP status: 200, 409 when another run holds the lock,
	// 503 when a dependency is unavailable, ...
	Code int
	// Runs are the outcomes of the log types the request started.
	Runs []RunOutcome `json:"runs"`
	// Error is the error of a failed request.
	Error string `json:"error"`
}

// Succeeded reports whether the request ran and every log type succeeded.
func (a Answer) Succeeded() bool {
	if a.Code != http.StatusOK || len(a.Runs) == 0 {
		return false
	}
	for _, r := range a.Runs {
		if r.Status != "succeeded" {
			return false
		}
	}
	return true
}

func (a Answer) String() string {
	b, _ := json.Marshal(a.Runs)
	if a.Error != "" {
		return fmt.Sprintf("%d %s %s", a.Code, a.Error, b)
	}
	return fmt.Sprintf("%d %s", a.Code, b)
}

// Run calls POST /run as Cloud Scheduler does; logType "" runs every log
// type. An error means no answer came (Masora died, say); an answer with
// any status is returned as it is.
func (m *Masora) Run(ctx context.Context, logType string) (Answer, error) {
	q := url.Values{}
	if logType != "" {
		q.Set("log_type", logType)
	}
	return m.call(ctx, "/run", q)
}

// Backfill calls POST /backfill over the hour folders from from to to.
func (m *Masora) Backfill(ctx context.Context, from, to time.Time, logType string) (Answer, error) {
	q := url.Values{"from": {from.UTC().Format(time.RFC3339)}, "to": {to.UTC().Format(time.RFC3339)}}
	if logType != "" {
		q.Set("log_type", logType)
	}
	return m.call(ctx, "/backfill", q)
}

func (m *Masora) call(ctx context.Context, path string, q url.Values) (Answer, error) {
	u := m.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	req.Header.Set("User-Agent", "Google-Cloud-Scheduler")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Answer{}, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, fmt.Errorf("POST %s: read answer: %w", path, err)
	}
	a := Answer{Code: resp.StatusCode}
	if err := json.Unmarshal(body, &a); err != nil {
		return Answer{}, fmt.Errorf("POST %s: %s: unexpected answer %q", path, resp.Status, bytes.TrimSpace(body))
	}
	return a, nil
}
