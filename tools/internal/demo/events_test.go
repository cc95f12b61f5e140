package demo_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/schema"
	"github.com/ore-masora/pipeline/tools/internal/demo"
)

func TestGenerate(t *testing.T) {
	reg := schema.MustLoad()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	opts := demo.GenerateOptions{Events: 500, Seed: 3, Now: now}
	p, err := demo.Generate(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	again, err := demo.Generate(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, again); diff != "" {
		t.Errorf("same seed, different plan (-first +second):\n%s", diff)
	}
	if len(p.Valid) != 500 {
		t.Errorf("%d valid events, want 500", len(p.Valid))
	}
	if len(p.Duplicates) != 10 {
		t.Errorf("%d duplicates, want 2%% of 500", len(p.Duplicates))
	}
	ids := map[string]bool{}
	for _, m := range p.Valid {
		if ids[m.EventID] {
			t.Fatalf("event id %s generated twice", m.EventID)
		}
		ids[m.EventID] = true
	}
	if got := p.Rows["user_action"] + p.Rows["seller_action"]; got != 500 || p.Rows["seller_action"] == 0 {
		t.Errorf("rows per log type %v, want both log types summing to 500", p.Rows)
	}
	var total int64
	for _, c := range p.Summary["user_action"] {
		total += c.Events
		if c.Distinct < 1 || c.Distinct > c.Events {
			t.Errorf("summary count %+v: distinct users must be in 1..events", c)
		}
	}
	if total != int64(p.Rows["user_action"]) {
		t.Errorf("user_action summary counts %d events, want %d", total, p.Rows["user_action"])
	}
	// Every bad message must really be refused by the shared schema.
	for _, m := range p.Bad {
		lt, err := reg.Latest(m.LogType)
		if errors.Is(err, schema.ErrUnknownLogType) {
			continue
		}
		if _, err := lt.Decode(m.Body); err == nil {
			t.Errorf("bad message %q (%s) passes validation", m.Body[:min(len(m.Body), 60)], m.Bad)
		}
	}
	var whatsapp, confirmed int
	for _, m := range p.Valid {
		ev := string(m.Body)
		if strings.Contains(ev, `"channel":"whatsapp"`) {
			whatsapp++
			if strings.Contains(ev, `"action":"cart_confirmed"`) {
				confirmed++
			}
		}
	}
	if whatsapp == 0 || confirmed == 0 {
		t.Errorf("%d WhatsApp events, %d WhatsApp cart confirmations; the demo must show both", whatsapp, confirmed)
	}
}
