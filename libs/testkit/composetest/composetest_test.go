package composetest_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ore-masora/pipeline/libs/testkit/composetest"
)

func TestParseResolvesAnchorsAndDefaults(t *testing.T) {
	f, err := composetest.Parse([]byte(`
x-a: &a
  A: "1"
services:
  s:
    image: img
    environment:
      <<: *a
      B: ${B_SET_BY_USER:-two}
      C: plain
    depends_on:
      t:
        condition: service_healthy
`))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Services["s"]
	if diff := cmp.Diff(map[string]string{"A": "1", "B": "two", "C": "plain"}, s.Environment); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	if got := s.DependsOn["t"].Condition; got != "service_healthy" {
		t.Errorf("depends_on t = %q", got)
	}
}

func TestParseRejects(t *testing.T) {
	for name, body := range map[string]string{
		"not yaml":          "services: [",
		"odd interpolation": "services:\n  s:\n    environment:\n      A: ${A?err}\n",
	} {
		if _, err := composetest.Parse([]byte(body)); err == nil {
			t.Errorf("%s: Parse succeeded", name)
		}
	}
}

func TestRepositoryComposeFileParses(t *testing.T) {
	f := composetest.Load(t)
	for _, name := range []string{"sqs", "gcs", "bigquery", "postgres", "init", "ore", "migrate", "masora", "scheduler"} {
		f.Service(t, name)
	}
}
