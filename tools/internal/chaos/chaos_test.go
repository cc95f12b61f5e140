package chaos_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ore-masora/pipeline/tools/internal/chaos"
)

// TestChaos runs every scenario on the local stack, each with its own
// seed (printed; CHAOS_SEED=<seed> with -run TestChaos/<round>/<scenario>
// replays one). With CHAOS_DURATION it repeats the scenarios with new seeds
// until that has passed.
func TestChaos(t *testing.T) {
	cfg, err := chaos.ConfigFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	stack := chaos.StartStack(t)
	deadline := time.Now().Add(cfg.Duration)
	for round := 1; round == 1 || time.Now().Before(deadline); round++ {
		// Scenario i of a round has seed roundSeed+i, so CHAOS_SEED=roundSeed
		// replays the round's scenarios as round 1.
		roundSeed := cfg.Seed + uint64(round-1)*uint64(len(chaos.Scenarios))
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			for i, s := range chaos.Scenarios {
				seed := roundSeed + uint64(i)
				t.Run(s.Name, func(t *testing.T) {
					t.Logf("seed %d; replay: CHAOS_SEED=%d CHAOS_EVENTS=%d CHAOS_BAD_ROUNDS=%d CHAOS_FAULTS=%d go test -run 'TestChaos/round1/%s$' ./internal/chaos/",
						seed, roundSeed, cfg.Events, cfg.BadRounds, cfg.Faults, s.Name)
					p := chaos.NewPipeline(t, stack, cfg, seed, s.Queue)
					s.Run(p)
				})
			}
		})
		if t.Failed() {
			return
		}
	}
}
