package app

import (
	"fmt"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// HealthConfig are the settings of deadlines, the stream watchdog and
// readiness (see health.go and the README's "Health and readiness").
type HealthConfig struct {
	// ProjectionWaitTimeout bounds how long a request waits for the local
	// read models to apply its own append before it answers 503.
	ProjectionWaitTimeout Duration `json:"projection_wait_timeout"`
	// ConsumerStallTimeout is how long a follower of the stream may stay
	// behind without delivering before the watchdog recreates it.
	ConsumerStallTimeout Duration `json:"consumer_stall_timeout"`
	// ReadyMaxLag is how many events the read models may be behind the
	// stream's last sequence and still be ready.
	ReadyMaxLag int `json:"ready_max_lag"`
	// ServeStale lets introspection, /auth/verify and bearer validation
	// answer from read models that are not ready (behind, NATS
	// unreachable) instead of failing closed with 503.
	ServeStale bool `json:"serve_stale"`
}

// Defaults of HealthConfig.
const (
	DefaultReadyMaxLag = 100
)

func defaultHealthConfig() HealthConfig {
	return HealthConfig{
		ProjectionWaitTimeout: Duration(domain.DefaultProjectionWait),
		ConsumerStallTimeout:  Duration(eventstore.DefaultStallAfter),
		ReadyMaxLag:           DefaultReadyMaxLag,
	}
}

// healthSettings are HealthConfig's rows of the settings table; the
// arguments are settings' parsers.
func healthSettings(
	dur func(func(*Config) *Duration) func(*Config, string) error,
	num func(func(*Config) *int) func(*Config, string) error,
	boolean func(func(*Config) *bool) func(*Config, string) error,
) []setting {
	return []setting{
		{"projection-wait-timeout", "how long a request waits for the read models to apply its own change before it answers 503 temporarily_unavailable with Retry-After", dur(func(c *Config) *Duration { return &c.ProjectionWaitTimeout })},
		{"consumer-stall-timeout", "how long a follower of the stream (read models, listeners) may stay behind without progress before the watchdog recreates its consumer", dur(func(c *Config) *Duration { return &c.ConsumerStallTimeout })},
		{"ready-max-lag", "how many events the read models may be behind the stream and still be ready (/health/ready)", num(func(c *Config) *int { return &c.ReadyMaxLag })},
		{"serve-stale", "answer introspection, /auth/verify and bearer checks from read models that are not ready instead of 503", boolean(func(c *Config) *bool { return &c.ServeStale })},
	}
}

// validate checks h, naming the bad setting.
func (h *HealthConfig) validate() error {
	switch {
	case h.ProjectionWaitTimeout <= 0 || time.Duration(h.ProjectionWaitTimeout) > 5*time.Minute:
		return fmt.Errorf("config: projection_wait_timeout: want more than 0 and at most 5m, got %s", time.Duration(h.ProjectionWaitTimeout))
	case h.ConsumerStallTimeout < Duration(time.Second) || time.Duration(h.ConsumerStallTimeout) > time.Hour:
		return fmt.Errorf("config: consumer_stall_timeout: want 1s to 1h, got %s", time.Duration(h.ConsumerStallTimeout))
	case h.ReadyMaxLag < 0:
		return fmt.Errorf("config: ready_max_lag: must not be negative, got %d", h.ReadyMaxLag)
	}
	return nil
}
