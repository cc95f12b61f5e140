package localstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ore-masora/pipeline/libs/testkit/stackenv"
)

// Component names.
const (
	SQS      = "sqs"
	GCS      = "gcs"
	BigQuery = "bigquery"
	Postgres = "postgres"
)

// Component is one recorded piece of the stack.
type Component struct {
	Name string `json:"name"`
	// PID leads the component's process group; 0 for an external server.
	PID int `json:"pid,omitempty"`
	// Match is a string the process's command line must contain for the PID to still be ours.
	Match    string `json:"match,omitempty"`
	Port     int    `json:"port"`
	GRPCPort int    `json:"grpc_port,omitempty"`
	// URL is what clients use (an endpoint, or the PostgreSQL connection string).
	URL string `json:"url"`
	Log string `json:"log,omitempty"`
	// DataDir is the throwaway PostgreSQL directory (socket + data/); removed on down.
	DataDir string `json:"data_dir,omitempty"`
	// Bin is the PostgreSQL bin directory (pg_ctl) of a throwaway cluster.
	Bin string `json:"bin,omitempty"`
	// External marks a server the stack did not start (DATABASE_URL); never stopped.
	External bool `json:"external,omitempty"`
}

// State is the content of state.json.
type State struct {
	StartedAt  time.Time      `json:"started_at"`
	Components []Component    `json:"components"`
	Env        []stackenv.Var `json:"env,omitempty"`
}

func (s *State) component(name string) *Component {
	for i := range s.Components {
		if s.Components[i].Name == name {
			return &s.Components[i]
		}
	}
	return nil
}

// set records c, replacing an earlier record of the same name.
func (s *State) set(c Component) {
	if old := s.component(c.Name); old != nil {
		*old = c
		return
	}
	s.Components = append(s.Components, c)
}

// ErrNoStack reports that no stack is recorded.
var ErrNoStack = errors.New("no local stack is recorded")

func readState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoStack
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w (delete it if no stack is running)", path, err)
	}
	return &s, nil
}

func writeState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
