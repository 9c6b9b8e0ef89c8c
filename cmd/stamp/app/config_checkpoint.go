package app

import "fmt"

// CheckpointConfig is the setting of the log's signed range checkpoints
// (see eventstore's checkpoint.go and the README's "Checkpoints").
type CheckpointConfig struct {
	// LogCheckpointInterval is how many stream sequences a checkpoint
	// covers: the server appends a LogCheckpointed after verifying that
	// many; 0 writes none.
	LogCheckpointInterval int `json:"log_checkpoint_interval"`
}

// Defaults and bounds of CheckpointConfig.
const (
	DefaultLogCheckpointInterval = 10_000
	// maxLogCheckpointInterval keeps a checkpoint, whose refused list may
	// in the worst case name every sequence of its range, under NATS's
	// default 1 MB message size.
	maxLogCheckpointInterval = 100_000
)

func defaultCheckpointConfig() CheckpointConfig {
	return CheckpointConfig{LogCheckpointInterval: DefaultLogCheckpointInterval}
}

// checkpointSettings are CheckpointConfig's rows of the settings table;
// the argument is settings' parser of whole numbers.
func checkpointSettings(num func(func(*Config) *int) func(*Config, string) error) []setting {
	return []setting{
		{"log-checkpoint-interval", "how many events a signed log checkpoint covers: the server checkpoints the log every so many events, and a rebuild verifies one signature per checkpoint instead of one per event (0: no checkpoints)", num(func(c *Config) *int { return &c.LogCheckpointInterval })},
	}
}

// validate checks k, naming the bad setting.
func (k *CheckpointConfig) validate() error {
	if k.LogCheckpointInterval < 0 || k.LogCheckpointInterval > maxLogCheckpointInterval {
		return fmt.Errorf("config: log_checkpoint_interval: want 0 (off) to %d, got %d", maxLogCheckpointInterval, k.LogCheckpointInterval)
	}
	return nil
}
