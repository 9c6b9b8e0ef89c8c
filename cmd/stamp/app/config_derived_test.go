package app

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestConfigValidateOnlyChecks: LoadConfig fills the derived defaults
// (withDerived), Validate changes nothing and refuses a configuration
// whose derived settings were never filled.
func TestConfigValidateOnlyChecks(t *testing.T) {
	env := map[string]string{"STAMP_DATA_DIR": "d", "STAMP_HTTP_ADDR": "127.0.0.1:9"}
	c, err := LoadConfig(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if c.Issuer != "http://127.0.0.1:9" || c.derivedIssuer != c.Issuer || c.Replicas != 1 ||
		c.PrivateKeyFile == "" || c.SealingKeyFile == "" || c.LogSigningKeyFile == "" || c.ClientCredentialsTTL != c.AccessTokenTTL {
		t.Errorf("LoadConfig did not fill the derived defaults: %+v", c)
	}
	before := c
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !reflect.DeepEqual(before, c) {
		t.Errorf("Validate changed the configuration")
	}
	if again := c.withDerived(); !reflect.DeepEqual(again, c) {
		t.Errorf("withDerived of a derived configuration changed it: %+v", again)
	}
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"no issuer", func(c *Config) { c.Issuer = "" }, "issuer"},
		{"no replicas", func(c *Config) { c.Replicas = 0 }, "replicas"},
		{"no key file", func(c *Config) { c.SealingKeyFile = "" }, "sealing_key_file"},
		{"no client-credentials lifetime", func(c *Config) { c.ClientCredentialsTTL = 0 }, "client_credentials_ttl"},
	} {
		bad := c
		tc.modify(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v; want an error naming %s", tc.name, err, tc.want)
		}
		if err := bad.withDerived().Validate(); err != nil {
			t.Errorf("%s: Validate after withDerived = %v; want nil", tc.name, err)
		}
	}
	ext := DefaultConfig()
	ext.NATSURL, ext.Issuer, ext.ClientCredentialsTTL = "nats://n:4222", "https://auth.example/", Duration(time.Minute)
	if d := ext.withDerived(); d.Replicas != 3 || d.Issuer != "https://auth.example" || d.derivedIssuer != "" || d.ClientCredentialsTTL != Duration(time.Minute) {
		t.Errorf("withDerived with an external NATS: replicas %d, issuer %q (derived %q), client credentials %v; want 3, no trailing slash, not derived, kept",
			d.Replicas, d.Issuer, d.derivedIssuer, d.ClientCredentialsTTL)
	}
}
