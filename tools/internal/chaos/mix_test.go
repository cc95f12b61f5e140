package chaos

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/schema"
)

func TestNewMix(t *testing.T) {
	reg := schema.MustLoad()
	opts := MixOptions{Events: 200, BadRounds: 3, Large: 2, Seed: 11, Now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	m, err := NewMix(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := NewMix(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m, again); diff != "" {
		t.Errorf("same seed, different mix (-first +second):\n%s", diff)
	}
	kinds := map[string]int{}
	for _, b := range m.Bad {
		kinds[b.Bad]++
	}
	for k, n := range kinds {
		if n != opts.BadRounds {
			t.Errorf("%d bad messages of kind %q, want %d", n, k, opts.BadRounds)
		}
	}
	if len(kinds) < 7 {
		t.Errorf("%d kinds of bad message (%v), want at least 7", len(kinds), kinds)
	}
	ids := map[string]bool{}
	logTypes := map[string]bool{}
	large := 0
	for _, v := range m.Valid {
		if len(v.Body) > schema.MaxBodyBytes-largeMargin-100 {
			large++
			if len(v.Body) > schema.MaxBodyBytes-largeMargin {
				t.Errorf("large event of %d bytes, over %d", len(v.Body), schema.MaxBodyBytes-largeMargin)
			}
		}
		if ids[v.EventID] {
			t.Errorf("event id %s generated twice", v.EventID)
		}
		ids[v.EventID] = true
		logTypes[v.LogType] = true
	}
	if len(m.Valid) < opts.Events-opts.BadRounds || len(m.Duplicates) < len(m.Valid)/10 || len(logTypes) != 2 {
		t.Errorf("%d valid events of %d log types and %d duplicates; want about %d of both log types and at least a tenth again",
			len(m.Valid), len(logTypes), len(m.Duplicates), opts.Events)
	}
	if large != opts.Large {
		t.Errorf("%d large events, want %d", large, opts.Large)
	}
	for _, d := range m.Duplicates {
		if !ids[d.EventID] {
			t.Errorf("duplicate %s is not one of the valid events", d.EventID)
		}
	}
	m.Only("seller_action")
	for _, v := range append(m.Valid, m.Duplicates...) {
		if v.LogType != "seller_action" {
			t.Fatalf("Only(seller_action) kept a %s event", v.LogType)
		}
	}
}
