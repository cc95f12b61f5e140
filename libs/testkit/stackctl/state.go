package stackctl

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

// Component names, as the stack command and Stack's methods take them.
const (
	SQS      = "sqs"
	GCS      = "gcs"
	BigQuery = "bigquery"
	Postgres = "postgres"
)

// Names returns the component names in start order.
func Names() []string { return []string{SQS, GCS, BigQuery, Postgres} }

// Paths inside a stack directory.

// StatePath is the state file of the stack kept in dir.
func StatePath(dir string) string { return filepath.Join(dir, "state.json") }

// EnvPath is the shell-sourceable file of connection settings (see stackenv).
func EnvPath(dir string) string { return filepath.Join(dir, "env") }

// LogDir holds one log file per component.
func LogDir(dir string) string { return filepath.Join(dir, "logs") }

// DataDir holds the data of the emulators that keep it on disk (GCS objects, the BigQuery
// database), one folder per component; down deletes it.
func DataDir(dir string) string { return filepath.Join(dir, "data") }

func lockPath(dir string) string { return filepath.Join(dir, "lock") }

// Command is how a component's process is started. It is recorded so that the component
// can be started again in place: same program, flags, port and data.
type Command struct {
	Path string   `json:"path"`
	Args []string `json:"args,omitempty"`
	// Env is added to the environment of the starting process; later entries win.
	Env []string `json:"env,omitempty"`
	Dir string   `json:"dir,omitempty"`
}

// Component is one recorded piece of the stack.
type Component struct {
	Name string `json:"name"`
	// PID leads the component's process group; 0 for an external server. For the stack's
	// PostgreSQL cluster the live value comes from the data directory's postmaster.pid, so a
	// server restarted by hand with pg_ctl is still found.
	PID int `json:"pid,omitempty"`
	// Match is a string the process's command line must contain for the PID to still be ours.
	Match    string `json:"match,omitempty"`
	Port     int    `json:"port"`
	GRPCPort int    `json:"grpc_port,omitempty"`
	// URL is what clients use (an endpoint, or the PostgreSQL connection string).
	URL string `json:"url"`
	Log string `json:"log,omitempty"`
	// DataDir keeps the component's data across restarts: the throwaway PostgreSQL
	// directory (socket + data/), the GCS emulator's filesystem root, the folder of the
	// BigQuery emulator's database file. Down deletes it.
	DataDir string `json:"data_dir,omitempty"`
	// Bin is the PostgreSQL bin directory (pg_ctl) of a throwaway cluster.
	Bin string `json:"bin,omitempty"`
	// External marks a server the stack did not start (DATABASE_URL); never stopped.
	External bool `json:"external,omitempty"`
	// Cmd starts the component; nil for an external server.
	Cmd *Command `json:"cmd,omitempty"`
}

// State is the content of state.json.
type State struct {
	StartedAt  time.Time      `json:"started_at"`
	Components []Component    `json:"components"`
	Env        []stackenv.Var `json:"env,omitempty"`
}

// Component returns the record of the component name, or nil.
func (s *State) Component(name string) *Component {
	for i := range s.Components {
		if s.Components[i].Name == name {
			return &s.Components[i]
		}
	}
	return nil
}

// Set records c, replacing an earlier record of the same name.
func (s *State) Set(c Component) {
	if old := s.Component(c.Name); old != nil {
		*old = c
		return
	}
	s.Components = append(s.Components, c)
}

// ErrNoStack reports that no stack is recorded.
var ErrNoStack = errors.New("no local stack is recorded")

// ReadState reads the state file of the stack kept in dir; ErrNoStack when there is none.
func ReadState(dir string) (*State, error) {
	path := StatePath(dir)
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

// WriteState replaces the state file of the stack kept in dir atomically.
func WriteState(dir string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".state-*")
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
	return os.Rename(tmp.Name(), StatePath(dir))
}
