package app

import (
	"strings"
	"testing"
)

// The archiver identity is a setting of an external NATS only: refused
// without --nats-url (the embedded server has its own archiver), by flag
// and by environment, with a message naming it; accepted with it.
func TestArchiverNkeyOnlyWithNATSURL(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{args: []string{"--nats-archiver-nkey", "archiver.nk"}},
		{env: map[string]string{"STAMP_NATS_ARCHIVER_NKEY": "archiver.nk"}},
	} {
		_, err := LoadConfig(tc.args, func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), "nats_archiver_nkey") || !strings.Contains(err.Error(), "nats_url") {
			t.Errorf("%v %v without nats_url: %v; want a refusal naming nats_archiver_nkey and nats_url", tc.args, tc.env, err)
		}
	}
	env := map[string]string{"STAMP_NATS_URL": "nats://127.0.0.1:4222", "STAMP_NATS_ARCHIVER_NKEY": "archiver.nk"}
	c, err := LoadConfig(nil, func(k string) string { return env[k] })
	if err != nil || c.NATSArchiverNkey != "archiver.nk" {
		t.Errorf("with nats_url: %q, %v; want the setting accepted", c.NATSArchiverNkey, err)
	}
	if c, err := LoadConfig(nil, func(string) string { return "" }); err != nil || c.NATSArchiverNkey != "" {
		t.Errorf("default: %q, %v; want no archiver identity", c.NATSArchiverNkey, err)
	}
}
