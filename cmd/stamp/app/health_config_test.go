package app

import (
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

func TestHealthSettings(t *testing.T) {
	c, err := LoadConfig(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.ProjectionWaitTimeout) != domain.DefaultProjectionWait || time.Duration(c.ConsumerStallTimeout) != eventstore.DefaultStallAfter || c.ReadyMaxLag != DefaultReadyMaxLag || c.ServeStale {
		t.Errorf("defaults = %+v; want 5s, 5s, 100, false", c.HealthConfig)
	}
	env := map[string]string{"STAMP_PROJECTION_WAIT_TIMEOUT": "2s", "STAMP_CONSUMER_STALL_TIMEOUT": "3s", "STAMP_READY_MAX_LAG": "7", "STAMP_SERVE_STALE": "true"}
	c, err = LoadConfig(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if want := (HealthConfig{Duration(2 * time.Second), Duration(3 * time.Second), 7, true}); c.HealthConfig != want {
		t.Errorf("from the environment = %+v; want %+v", c.HealthConfig, want)
	}
	for _, bad := range []struct{ flag, value, name string }{
		{"--projection-wait-timeout", "0s", "projection_wait_timeout"},
		{"--projection-wait-timeout", "1h", "projection_wait_timeout"},
		{"--consumer-stall-timeout", "100ms", "consumer_stall_timeout"},
		{"--ready-max-lag", "-1", "ready_max_lag"},
		{"--serve-stale", "maybe", "--serve-stale"},
	} {
		_, err := LoadConfig([]string{bad.flag, bad.value}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), bad.name) {
			t.Errorf("%s %s: err = %v; want one naming %s", bad.flag, bad.value, err, bad.name)
		}
	}
}
