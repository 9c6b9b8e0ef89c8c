package app

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// TestREADMEListsEverySetting keeps the README's configuration table in
// step with the settings table.
func TestREADMEListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range settings() {
		row := "| `--" + s.name + "` | `" + s.env() + "` |"
		if !strings.Contains(readme, row) {
			t.Errorf("README.md has no configuration row starting %q", row)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/stamp.json"
	if err := os.WriteFile(file, []byte(`{"http_addr":"127.0.0.1:9000","log_level":"debug","access_token_ttl":"2h","sync":"interval"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"STAMP_CONFIG": file, "STAMP_LOG_LEVEL": "warn", "STAMP_SYNC": "always"}
	c, err := LoadConfig([]string{"--sync", "interval"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9000" || c.LogLevel != "warn" || c.Sync != "interval" || time.Duration(c.AccessTokenTTL) != 2*time.Hour {
		t.Errorf("got %+v; want the file's http_addr and ttl, the environment's log level, the flag's sync", c)
	}
	if c.Issuer != "http://127.0.0.1:9000" || c.ClientCredentialsTTL != c.AccessTokenTTL || c.Replicas != 1 {
		t.Errorf("derived defaults: got issuer %q, cc ttl %v, replicas %d", c.Issuer, c.ClientCredentialsTTL, c.Replicas)
	}
	for _, bad := range []struct {
		args []string
		name string
	}{
		{[]string{"--sync", "never"}, "sync"},
		{[]string{"--signing-algorithm", "HS256"}, "signing_algorithm"},
		{[]string{"--http-addr", "nohost"}, "http_addr"},
		{[]string{"--issuer", "ftp://x"}, "issuer"},
		{[]string{"--nats-port", "70000"}, "nats_port"},
		{[]string{"--default-scopes", "missing"}, "default_scopes"},
		{[]string{"--access-token-ttl", "-1h"}, "access_token_ttl"},
		{[]string{"--log-level", "loud"}, "log_level"},
		{[]string{"--replicas", "9"}, "replicas"},
		{[]string{"--nats-port", "many"}, "--nats-port"},
	} {
		_, err := LoadConfig(bad.args, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), bad.name) {
			t.Errorf("%v: got %v; want an error naming %s", bad.args, err, bad.name)
		}
	}
	if _, err := LoadConfig(nil, func(k string) string { return map[string]string{"STAMP_NATS_URL": "nats://x:4222"}[k] }); err != nil {
		t.Fatal(err)
	}
	c, _ = LoadConfig(nil, func(k string) string { return map[string]string{"STAMP_NATS_URL": "nats://x:4222"}[k] })
	if c.Replicas != 3 {
		t.Errorf("with an external NATS: got %d replicas; want 3", c.Replicas)
	}
}

// TestREADMEDocumentsEveryEvent keeps the README's event table complete.
func TestREADMEDocumentsEveryEvent(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range domain.EventTypes() {
		// The current version: what Decode knows, beneath a future one.
		var fv *domain.FutureVersionError
		if _, err := domain.Decode(domain.Envelope{Type: typ, Version: 1 << 20}); !errors.As(err, &fv) {
			t.Fatalf("%s: %v; want a FutureVersionError", typ, err)
		}
		if !strings.Contains(string(b), fmt.Sprintf("| `%s` | %d |", typ, fv.Known)) {
			t.Errorf("README.md does not document the event %s at version %d", typ, fv.Known)
		}
	}
}
