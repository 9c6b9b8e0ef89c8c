package app

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// ObserveConfig are the settings of metrics and tracing (see metrics.go,
// tracing.go and the README's "Metrics" and "Tracing").
type ObserveConfig struct {
	// MetricsEnabled serves Prometheus metrics at /metrics.
	MetricsEnabled bool `json:"metrics_enabled"`
	// MetricsAddress, when set, serves /metrics on this address (an
	// admin port) instead of on the HTTP port.
	MetricsAddress string `json:"metrics_address"`
	// TracingOTLPEndpoint is the base URL of an OTLP/HTTP receiver
	// (http://collector:4318); spans go to its /v1/traces. Empty: no
	// tracing.
	TracingOTLPEndpoint string `json:"tracing_otlp_endpoint"`
	// TracingSampleRatio is the share of new traces sampled, 0 to 1; a
	// request that arrives with a sampled traceparent is always sampled.
	TracingSampleRatio float64 `json:"tracing_sample_ratio"`
}

func defaultObserveConfig() ObserveConfig {
	return ObserveConfig{MetricsEnabled: true, TracingSampleRatio: 1}
}

// observeSettings are ObserveConfig's rows of the settings table; the
// arguments are settings' parsers.
func observeSettings(
	str func(func(*Config) *string) func(*Config, string) error,
	boolean func(func(*Config) *bool) func(*Config, string) error,
) []setting {
	return []setting{
		{"metrics-enabled", "serve Prometheus metrics at /metrics: true or false", boolean(func(c *Config) *bool { return &c.MetricsEnabled })},
		{"metrics-address", "host:port of a separate admin listener for /metrics (default: empty, /metrics is on the HTTP port)", str(func(c *Config) *string { return &c.MetricsAddress })},
		{"tracing-otlp-endpoint", "base URL of an OTLP/HTTP trace receiver, such as http://127.0.0.1:4318 (spans go to its /v1/traces); empty: tracing off", str(func(c *Config) *string { return &c.TracingOTLPEndpoint })},
		{"tracing-sample-ratio", "share of new traces recorded, 0 to 1 (a request carrying a sampled traceparent is always recorded)", func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("want a number from 0 to 1, got %q", v)
			}
			c.TracingSampleRatio = f
			return nil
		}},
	}
}

// validate checks o, naming the bad setting.
func (o *ObserveConfig) validate() error {
	if o.MetricsAddress != "" {
		if _, _, err := net.SplitHostPort(o.MetricsAddress); err != nil {
			return fmt.Errorf("config: metrics_address: %q is not host:port", o.MetricsAddress)
		}
	}
	if o.TracingOTLPEndpoint != "" {
		u, err := url.Parse(o.TracingOTLPEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("config: tracing_otlp_endpoint: %q is not an http(s) URL", o.TracingOTLPEndpoint)
		}
	}
	if !(o.TracingSampleRatio >= 0 && o.TracingSampleRatio <= 1) {
		return fmt.Errorf("config: tracing_sample_ratio: want 0 to 1, got %v", o.TracingSampleRatio)
	}
	return nil
}
