// Package composetest reads the repository's docker-compose.yml for tests, so
// that each service can check that the compose file configures it with the
// variables its code really reads. It is a test-only helper: nothing outside
// _test.go files may import it.
//
// Our machines have no Docker engine, so these checks are what keeps the
// compose file honest; see the header of docker-compose.yml.
package composetest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// File is the parsed compose file.
type File struct {
	Services map[string]Service `yaml:"services"`
}

// Service is one compose service, with ${VAR:-default} references in its
// environment resolved to their defaults (as docker compose does when VAR is
// unset).
type Service struct {
	Image       string               `yaml:"image"`
	Command     []string             `yaml:"command"`
	Environment map[string]string    `yaml:"environment"`
	Ports       []string             `yaml:"ports"`
	DependsOn   map[string]Condition `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// Condition is a depends_on entry.
type Condition struct {
	Condition string `yaml:"condition"`
}

// Getenv returns a getenv function over the service's environment.
func (s Service) Getenv(name string) string { return s.Environment[name] }

// Load parses docker-compose.yml at the root of the repository (the folder
// holding go.work above the working directory).
func Load(t testing.TB) File {
	t.Helper()
	path, err := find()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return f
}

// Service returns the named service or fails the test.
func (f File) Service(t testing.TB, name string) Service {
	t.Helper()
	s, ok := f.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %q", name)
	}
	return s
}

var interpolation = regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)(:-([^}]*))?\}`)

// Parse parses a compose file: YAML anchors and merge keys (<<) are resolved
// by the YAML decoder, ${VAR:-default} by Parse.
func Parse(b []byte) (File, error) {
	var f File
	if err := yaml.Unmarshal(b, &f); err != nil {
		return File{}, fmt.Errorf("parse compose file: %w", err)
	}
	for name, s := range f.Services {
		for k, v := range s.Environment {
			if strings.Contains(v, "${") && !interpolation.MatchString(v) {
				return File{}, fmt.Errorf("service %s: %s=%q: unsupported interpolation", name, k, v)
			}
			s.Environment[k] = interpolation.ReplaceAllString(v, "$3")
		}
	}
	return f, nil
}

func find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, "docker-compose.yml"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.work above the working directory: cannot find docker-compose.yml")
		}
		dir = parent
	}
}
