package load

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ore-masora/pipeline/libs/envconfig"
)

// Config sizes a load run. ConfigVars reads it from the environment; the
// load command's flags override it.
type Config struct {
	// Rate is the events published a second, Duration for how long.
	Rate     float64       `json:"rate"`
	Duration time.Duration `json:"duration"`
	// Window is Ore's ORE_POLL_BATCH_WINDOW.
	Window time.Duration `json:"window"`
	// Cadence is the time between two /run triggers of Masora.
	Cadence time.Duration `json:"cadence"`
	// Settle bounds the wait, after the last publication, until every
	// event is in Postgres.
	Settle time.Duration `json:"settle"`
	// ChunkFiles is MASORA_CHUNK_FILES; 0 picks the most files whose rows
	// stay under the BigQuery emulator's ~50k rows a query.
	ChunkFiles int `json:"chunk_files"`
	// Visibility is the queue's visibility timeout; 0 picks QueueVisibility.
	Visibility time.Duration `json:"visibility"`
	// FloorMessages is the messages of each drain of the poll-mode floor
	// (0 skips it), FloorRounds the interleaved Ore/floor pairs.
	FloorMessages int `json:"floor_messages"`
	FloorRounds   int `json:"floor_rounds"`
	// Seed selects the generated events; 0 picks one from the clock.
	Seed uint64 `json:"seed"`
}

// ConfigVars is the table of LOAD_* variables, with their defaults.
func ConfigVars(c *Config) envconfig.Vars {
	return envconfig.Vars{
		{Name: "LOAD_RATE", Default: "500", Doc: "events published a second", Value: envconfig.Parse(&c.Rate, parseRate, "events a second from 1 to 100000")},
		{Name: "LOAD_DURATION", Default: "60s", Doc: "how long to publish", Value: envconfig.Duration(&c.Duration, time.Second, 24*time.Hour)},
		{Name: "LOAD_ORE_WINDOW", Default: "5s", Doc: "Ore's batching window (ORE_POLL_BATCH_WINDOW)", Value: envconfig.Duration(&c.Window, 0, 5*time.Minute)},
		{Name: "LOAD_CADENCE", Default: "30s", Doc: "time between Masora /run triggers", Value: envconfig.Duration(&c.Cadence, time.Second, 2*time.Hour)},
		{Name: "LOAD_SETTLE_TIMEOUT", Default: "5m", Doc: "longest wait after publishing until every event is in Postgres", Value: envconfig.Duration(&c.Settle, 10*time.Second, 24*time.Hour)},
		{Name: "LOAD_CHUNK_FILES", Default: "0", Doc: "MASORA_CHUNK_FILES; 0 keeps a query under the BigQuery emulator's ~50k rows", Value: envconfig.Int(&c.ChunkFiles, 0, 10000)},
		{Name: "LOAD_VISIBILITY", Default: "0s", Doc: "the queue's visibility timeout; 0s: the larger of 30s and twice the Ore window plus 10s", Value: envconfig.Duration(&c.Visibility, 0, 12*time.Hour)},
		{Name: "LOAD_FLOOR_MESSAGES", Default: "20000", Doc: "messages of each poll-mode floor drain (0 skips the floor)", Value: envconfig.Int(&c.FloorMessages, 0, 1000000)},
		{Name: "LOAD_FLOOR_ROUNDS", Default: "2", Doc: "interleaved Ore / receive-delete drains", Value: envconfig.Int(&c.FloorRounds, 1, 20)},
		{Name: "LOAD_SEED", Default: "0", Doc: "seed of the generated events; 0 picks one from the clock", Value: envconfig.Parse(&c.Seed, parseSeed, "a whole number")},
	}
}

// emulatorRowsPerQuery is the most rows a chunk should give one query on
// the BigQuery emulator (EMULATORS.md: ~250k rows run it out of memory;
// keep ≤ 50k).
const emulatorRowsPerQuery = 40000

// QueueVisibility is the visibility timeout of the run's queue:
// Visibility, or by default the larger of 30 s and twice the batching
// window plus 10 s (Ore refuses to start when the window plus the time to
// handle a batch does not fit in the visibility timeout).
func (c Config) QueueVisibility() time.Duration {
	if c.Visibility > 0 {
		return c.Visibility
	}
	return max(30*time.Second, 2*c.Window+10*time.Second)
}

// chunkFiles returns MASORA_CHUNK_FILES for the run.
func (c Config) chunkFiles() int {
	if c.ChunkFiles > 0 {
		return c.ChunkFiles
	}
	perFile := c.Rate * max(c.Window.Seconds(), 1) // rows of a batch, all log types
	return max(1, min(100, int(emulatorRowsPerQuery/perFile)))
}

func parseRate(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 1 || v > 100000 {
		return 0, fmt.Errorf("want events a second from 1 to 100000")
	}
	return v, nil
}

func parseSeed(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }
