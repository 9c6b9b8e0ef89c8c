package app

import (
	"strings"
	"testing"
)

// log_checkpoint_interval: 10,000 by default, 0 turns checkpoints off,
// negative and oversized values are refused naming the setting.
func TestCheckpointSettings(t *testing.T) {
	load := func(env map[string]string) (Config, error) {
		return LoadConfig(nil, func(k string) string { return env[k] })
	}
	c, err := load(map[string]string{})
	if err != nil || c.LogCheckpointInterval != DefaultLogCheckpointInterval {
		t.Fatalf("default: %d, %v; want %d", c.LogCheckpointInterval, err, DefaultLogCheckpointInterval)
	}
	for v, want := range map[string]int{"0": 0, "500": 500, "100000": 100_000} {
		if c, err := load(map[string]string{"STAMP_LOG_CHECKPOINT_INTERVAL": v}); err != nil || c.LogCheckpointInterval != want {
			t.Errorf("%s: %d, %v; want %d", v, c.LogCheckpointInterval, err, want)
		}
	}
	for _, bad := range []string{"-1", "100001", "many"} {
		if _, err := load(map[string]string{"STAMP_LOG_CHECKPOINT_INTERVAL": bad}); err == nil || !strings.Contains(strings.ToLower(err.Error()), "log_checkpoint_interval") {
			t.Errorf("%s: %v; want a refusal naming log_checkpoint_interval", bad, err)
		}
	}
}
