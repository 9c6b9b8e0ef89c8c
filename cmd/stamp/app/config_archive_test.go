package app

import (
	"strings"
	"testing"
	"time"
)

// The hot window is at least the longest lifetime: derived from it when
// unset, refused below it naming both settings.
func TestHotWindowSettings(t *testing.T) {
	load := func(env map[string]string) (Config, error) {
		return LoadConfig(nil, func(k string) string { return env[k] })
	}
	c, err := load(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.StreamCompression != "s2" || c.hotWindow() != 365*24*time.Hour {
		t.Errorf("defaults: compression %q, hot window %s; want s2 and the personal access token lifetime", c.StreamCompression, c.hotWindow())
	}
	short := map[string]string{"STAMP_PERSONAL_ACCESS_TOKEN_TTL": "1h", "STAMP_REFRESH_TOKEN_TTL": "2h"}
	if c, err = load(short); err != nil || c.hotWindow() != DefaultLogHotWindow {
		t.Errorf("short lifetimes: hot window %s, %v; want %s", c.hotWindow(), err, DefaultLogHotWindow)
	}
	short["STAMP_LOG_HOT_WINDOW"] = "3h"
	if c, err = load(short); err != nil || c.hotWindow() != 3*time.Hour {
		t.Errorf("a window of 3h: %s, %v", c.hotWindow(), err)
	}
	short["STAMP_LOG_HOT_WINDOW"] = "90m"
	if _, err = load(short); err == nil || !strings.Contains(err.Error(), "log_hot_window") || !strings.Contains(err.Error(), "refresh_token_ttl") {
		t.Errorf("a window below the refresh token lifetime: %v; want a refusal naming both settings", err)
	}
	for _, bad := range []map[string]string{
		{"STAMP_STREAM_COMPRESSION": "zstd"},
		{"STAMP_LOG_HOT_WINDOW": "-1h"},
		{"STAMP_LOG_ARCHIVE_INTERVAL": "0s"},
	} {
		if _, err := load(bad); err == nil {
			t.Errorf("%v: accepted; want a refusal", bad)
		}
	}
}
