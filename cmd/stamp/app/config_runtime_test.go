package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The memory limit, the read models' cache and the debug address: sizes with units from the
// environment and the file, refusals naming the setting.
func TestRuntimeSettings(t *testing.T) {
	load := func(env map[string]string) (Config, error) {
		return LoadConfig(nil, func(k string) string { return env[k] })
	}
	c, err := load(map[string]string{})
	if err != nil || c.MemoryLimit != 0 || c.DebugAddress != "" || c.ReadModelCache != 0 {
		t.Fatalf("defaults: %d %q %d %v; want 0, empty, 0 (the read models' default)", c.MemoryLimit, c.DebugAddress, c.ReadModelCache, err)
	}
	if o := c.viewOptions(nil, nil); o.CacheSize != 0 {
		t.Errorf("the read models' cache by default: %d; want 0, projections.DefaultCacheSize", o.CacheSize)
	}
	if c, err := load(map[string]string{"STAMP_READ_MODEL_CACHE": "48MiB"}); err != nil || c.viewOptions(nil, nil).CacheSize != 48<<20 {
		t.Errorf("STAMP_READ_MODEL_CACHE=48MiB: %d, %v; want the read models opened with 48MiB", c.ReadModelCache, err)
	}
	for in, want := range map[string]ByteSize{"128MiB": 128 << 20, "1GiB": 1 << 30, "500MB": 500e6, "64 KiB": 64 << 10, "1048576": 1 << 20, "0": 0} {
		c, err := load(map[string]string{"STAMP_MEMORY_LIMIT": in})
		if err != nil || c.MemoryLimit != want {
			t.Errorf("STAMP_MEMORY_LIMIT=%q: %d, %v; want %d", in, c.MemoryLimit, err, want)
		}
	}
	file := filepath.Join(t.TempDir(), "stamp.json")
	if err := os.WriteFile(file, []byte(`{"memory_limit": "96MiB", "debug_address": "127.0.0.1:6060"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := load(map[string]string{"STAMP_CONFIG": file}); err != nil || c.MemoryLimit != 96<<20 || c.DebugAddress != "127.0.0.1:6060" {
		t.Errorf("from the file: %d %q %v; want 96MiB and the address", c.MemoryLimit, c.DebugAddress, err)
	}
	for _, bad := range []struct{ env, value, name string }{
		{"STAMP_MEMORY_LIMIT", "lots", "memory_limit"},
		{"STAMP_MEMORY_LIMIT", "-1MiB", "memory_limit"},
		{"STAMP_MEMORY_LIMIT", "12TB", "memory_limit"},
		{"STAMP_READ_MODEL_CACHE", "-1MiB", "read_model_cache"},
		{"STAMP_DEBUG_ADDRESS", "6060", "debug_address"},
	} {
		if _, err := load(map[string]string{bad.env: bad.value}); err == nil || !strings.Contains(strings.ToLower(err.Error()), bad.name) {
			t.Errorf("%s=%q: %v; want a refusal naming %s", bad.env, bad.value, err, bad.name)
		}
	}
}
