package app

import "testing"

// TestAccessLogSetting: on by default; false from the file, the
// environment or the flag turns it off; anything else is refused.
func TestAccessLogSetting(t *testing.T) {
	if c, err := LoadConfig(nil, func(string) string { return "" }); err != nil || !c.AccessLog {
		t.Errorf("default: got %v, %v; want on", c.AccessLog, err)
	}
	env := map[string]string{"STAMP_ACCESS_LOG": "false"}
	if c, err := LoadConfig(nil, func(k string) string { return env[k] }); err != nil || c.AccessLog {
		t.Errorf("STAMP_ACCESS_LOG=false: got %v, %v; want off", c.AccessLog, err)
	}
	if c, err := LoadConfig([]string{"--access-log", "false"}, func(string) string { return "" }); err != nil || c.AccessLog {
		t.Errorf("--access-log false: got %v, %v; want off", c.AccessLog, err)
	}
	if _, err := LoadConfig([]string{"--access-log", "sometimes"}, func(string) string { return "" }); err == nil {
		t.Error("--access-log sometimes: got no error")
	}
}
