package config

import (
	"cmp"
	"testing"

	"github.com/ore-masora/pipeline/libs/testkit/composetest"
)

// sdkVariables are read by the AWS and Google SDKs, not by Load.
var sdkVariables = map[string]bool{"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true}

// TestComposeConfiguresOre checks the ore service of docker-compose.yml
// against what Load reads: every variable is one Ore (or its SDKs) reads, the
// configuration loads in poll mode, and Ore starts only after the queue and
// bucket exist.
func TestComposeConfiguresOre(t *testing.T) {
	f := composetest.Load(t)
	ore := f.Service(t, "ore")
	known := map[string]bool{}
	for _, v := range new(Config).vars(CommandService) {
		known[v.Name] = true
	}
	for name := range ore.Environment {
		if !known[name] && !sdkVariables[name] {
			t.Errorf("docker-compose.yml sets %s for ore, which Ore does not read", name)
		}
	}
	cfg, err := Load(ore.Getenv)
	if err != nil {
		t.Fatalf("Ore's configuration from docker-compose.yml does not load: %v", err)
	}
	if cfg.Mode != ModePoll {
		t.Errorf("compose runs ore in mode %q, want poll", cfg.Mode)
	}
	if cfg.SQSEndpoint == "" || ore.Environment["STORAGE_EMULATOR_HOST"] == "" {
		t.Error("compose's ore must point at the emulators (SQS_ENDPOINT, STORAGE_EMULATOR_HOST)")
	}
	if got := ore.DependsOn["init"].Condition; got != "service_completed_successfully" {
		t.Errorf("ore depends on init with %q, want service_completed_successfully (the bucket must exist)", got)
	}
	masora := f.Service(t, "masora")
	if masora.Environment["GCS_BUCKET"] != cfg.GCSBucket || cmp.Or(masora.Environment["GCS_PREFIX"], "logs") != cfg.GCSPrefix {
		t.Errorf("ore writes gs://%s/%s but masora reads gs://%s/%s", cfg.GCSBucket, cfg.GCSPrefix, masora.Environment["GCS_BUCKET"], masora.Environment["GCS_PREFIX"])
	}
}
