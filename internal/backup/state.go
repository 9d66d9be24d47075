package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// StateFile is the name of the backup status file in the data directory.
const StateFile = "backup-state.json"

// TargetState is what is known about one target's backups.
type TargetState struct {
	LastSuccess   string    `json:"last_success,omitempty"`
	LastSuccessAt time.Time `json:"last_success_at,omitzero"`
	LastFailureAt time.Time `json:"last_failure_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	// LastVerified is the newest backup that verified on this target; prune
	// never deletes it.
	LastVerified string `json:"last_verified,omitempty"`
}

// State is the status file: per target name.
type State struct {
	Targets map[string]*TargetState `json:"targets"`
}

// stateMu serialises read-modify-write of the state file within a process.
var stateMu sync.Mutex

// LoadState reads dir's state file; a missing one is an empty state.
func LoadState(dir string) (*State, error) {
	s := &State{Targets: map[string]*TargetState{}}
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("backup status: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("backup status %s: %w (delete it to start afresh)", filepath.Join(dir, StateFile), err)
	}
	if s.Targets == nil {
		s.Targets = map[string]*TargetState{}
	}
	return s, nil
}

// UpdateState applies fn to dir's state and writes it back atomically
// (0600).
func UpdateState(dir string, fn func(*State)) error {
	stateMu.Lock()
	defer stateMu.Unlock()
	s, err := LoadState(dir)
	if err != nil {
		return err
	}
	fn(s)
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+StateFile+"-*")
	if err != nil {
		return fmt.Errorf("backup status: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("backup status: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("backup status: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backup status: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("backup status: %w", err)
	}
	return nil
}

// Target returns the state of target name, creating it.
func (s *State) Target(name string) *TargetState {
	ts := s.Targets[name]
	if ts == nil {
		ts = &TargetState{}
		s.Targets[name] = ts
	}
	return ts
}

// Record notes a backup's results at time at.
func (s *State) Record(id string, results []Result, at time.Time) {
	for _, r := range results {
		ts := s.Target(r.Target)
		if r.Err != nil {
			ts.LastFailureAt, ts.LastError = at.UTC(), r.Err.Error()
			continue
		}
		ts.LastSuccess, ts.LastSuccessAt = id, at.UTC()
	}
}
