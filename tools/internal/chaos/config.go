// Package chaos is the chaos suite: scenarios that run the whole pipeline
// as real processes on the local stack (producer → fauxqs → Ore in poll
// mode → fake-gcs-server → BigQuery emulator → Masora → Postgres), inject a
// fault while it runs (SIGKILL of Ore or Masora at chosen moments, GCS
// uploads held back or refused, a poison message, concurrent triggers, ...),
// let the system recover by its own means (restarts, reruns, visibility
// timeouts, redrive) and then check every invariant with
// libs/testkit/invariant.
//
// The scenarios run as TestChaos: small under `make test`, bigger and
// repeated for CHAOS_DURATION under `make chaos`. Each prints its seed;
// CHAOS_SEED replays it.
package chaos

import (
	"fmt"
	"strconv"
	"time"
)

// Config sizes the suite; ConfigFromEnv reads it.
type Config struct {
	// Seed is the seed of the first round; 0 picks one from the clock.
	Seed uint64
	// Events is the number of distinct valid events a scenario publishes.
	Events int
	// BadRounds is the number of bad messages of each kind it publishes.
	BadRounds int
	// Faults is how many times a scenario injects its fault (kills, ...).
	Faults int
	// QuarantineTables also checks quarantined_messages and
	// quarantine_hourly, which Masora's quarantine pass loads.
	QuarantineTables bool
	// Duration, when set, repeats the scenarios with new seeds until it has
	// passed (at least one round).
	Duration time.Duration
}

// The variables ConfigFromEnv reads, and their defaults (the small suite of
// `make test`).
var envVars = []struct {
	key, def, doc string
}{
	{"CHAOS_SEED", "0", "seed of the first round; 0 picks one from the clock (each scenario prints its own)"},
	{"CHAOS_EVENTS", "240", "distinct valid events per scenario"},
	{"CHAOS_BAD_ROUNDS", "2", "bad messages of each kind per scenario"},
	{"CHAOS_FAULTS", "2", "faults injected per scenario (kills, held uploads, ...)"},
	{"CHAOS_DURATION", "0s", "repeat the scenarios with new seeds until this has passed"},
	{"CHAOS_QUARANTINE_TABLES", "true", "check quarantined_messages and quarantine_hourly too (Masora's quarantine pass)"},
}

// ConfigFromEnv reads CHAOS_SEED, CHAOS_EVENTS, CHAOS_BAD_ROUNDS,
// CHAOS_FAULTS, CHAOS_DURATION and CHAOS_QUARANTINE_TABLES.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	for _, v := range envVars {
		s := getenv(v.key)
		if s == "" {
			s = v.def
		}
		var err error
		switch v.key {
		case "CHAOS_SEED":
			c.Seed, err = strconv.ParseUint(s, 10, 64)
		case "CHAOS_EVENTS":
			c.Events, err = positive(s, 20)
		case "CHAOS_BAD_ROUNDS":
			c.BadRounds, err = positive(s, 1)
		case "CHAOS_FAULTS":
			c.Faults, err = positive(s, 1)
		case "CHAOS_DURATION":
			c.Duration, err = time.ParseDuration(s)
		case "CHAOS_QUARANTINE_TABLES":
			c.QuarantineTables, err = strconv.ParseBool(s)
		}
		if err != nil {
			return Config{}, fmt.Errorf("%s=%q: %v (%s)", v.key, s, err, v.doc)
		}
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	return c, nil
}

func positive(s string, least int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < least {
		return 0, fmt.Errorf("want a whole number of at least %d", least)
	}
	return n, nil
}
