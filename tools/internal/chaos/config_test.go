package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{
			name: "defaults: the small suite",
			env:  map[string]string{"CHAOS_SEED": "7"},
			want: Config{Seed: 7, Events: 240, BadRounds: 2, Faults: 2, QuarantineTables: true},
		},
		{
			name: "make chaos",
			env: map[string]string{"CHAOS_SEED": "9", "CHAOS_EVENTS": "3000", "CHAOS_BAD_ROUNDS": "10", "CHAOS_FAULTS": "6",
				"CHAOS_DURATION": "15m", "CHAOS_QUARANTINE_TABLES": "false"},
			want: Config{Seed: 9, Events: 3000, BadRounds: 10, Faults: 6, Duration: 15 * time.Minute},
		},
		{name: "too few events", env: map[string]string{"CHAOS_EVENTS": "5"}, wantErr: `CHAOS_EVENTS="5": want a whole number of at least 20`},
		{name: "bad duration", env: map[string]string{"CHAOS_DURATION": "soon"}, wantErr: `CHAOS_DURATION="soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ConfigFromEnv (-want +got):\n%s", diff)
			}
		})
	}
	got, err := ConfigFromEnv(func(string) string { return "" })
	if err != nil || got.Seed == 0 {
		t.Errorf("without CHAOS_SEED: seed %d, error %v; want a seed from the clock", got.Seed, err)
	}
}
