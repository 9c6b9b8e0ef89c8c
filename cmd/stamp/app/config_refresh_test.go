package app

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestRefreshRotationGraceSetting: default 0 (a rotated-out refresh token
// presented again is reuse at once), settable from the file, the
// environment and the flag in that order of precedence, and refused when
// negative or above a minute, naming the setting.
func TestRefreshRotationGraceSetting(t *testing.T) {
	none := func(string) string { return "" }
	c, err := LoadConfig(nil, none)
	if err != nil {
		t.Fatal(err)
	}
	if c.RefreshRotationGrace != 0 {
		t.Errorf("default: got %v; want 0", time.Duration(c.RefreshRotationGrace))
	}
	file := t.TempDir() + "/stamp.json"
	if err := os.WriteFile(file, []byte(`{"refresh_rotation_grace":"2s"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want time.Duration
	}{
		{nil, map[string]string{"STAMP_CONFIG": file}, 2 * time.Second},
		{nil, map[string]string{"STAMP_CONFIG": file, "STAMP_REFRESH_ROTATION_GRACE": "5s"}, 5 * time.Second},
		{[]string{"--refresh-rotation-grace", "1m"}, map[string]string{"STAMP_REFRESH_ROTATION_GRACE": "5s"}, time.Minute},
	} {
		c, err := LoadConfig(tt.args, func(k string) string { return tt.env[k] })
		if err != nil || time.Duration(c.RefreshRotationGrace) != tt.want {
			t.Errorf("%v %v: got %v, %v; want %v", tt.args, tt.env, time.Duration(c.RefreshRotationGrace), err, tt.want)
		}
	}
	for _, bad := range []string{"-1s", "61s", "1h", "soon"} {
		_, err := LoadConfig([]string{"--refresh-rotation-grace", bad}, none)
		if err == nil || !strings.Contains(err.Error(), "refresh") {
			t.Errorf("--refresh-rotation-grace %s: got %v; want an error naming the setting", bad, err)
		}
	}
}
