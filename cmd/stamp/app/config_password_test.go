package app

import (
	"os"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// TestPasswordHashCostSettings: the argon2id cost of new hashes defaults
// to the production cost, is settable from the file, the environment and
// the flags in that order of precedence, reaches the service, and is
// refused out of bounds, naming the setting.
func TestPasswordHashCostSettings(t *testing.T) {
	none := func(string) string { return "" }
	c, err := LoadConfig(nil, none)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.passwordHashing(); err != nil || got != domain.DefaultPasswordHashing() {
		t.Errorf("default: got %+v, %v; want %+v", got, err, domain.DefaultPasswordHashing())
	}
	file := t.TempDir() + "/stamp.json"
	if err := os.WriteFile(file, []byte(`{"password_hash_memory_kib":1024,"password_hash_time":2,"password_hash_threads":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want domain.PasswordHashing
	}{
		{nil, map[string]string{"STAMP_CONFIG": file}, domain.PasswordHashing{MemoryKiB: 1024, Time: 2, Threads: 1}},
		{nil, map[string]string{"STAMP_CONFIG": file, "STAMP_PASSWORD_HASH_MEMORY_KIB": "2048"}, domain.PasswordHashing{MemoryKiB: 2048, Time: 2, Threads: 1}},
		{[]string{"--password-hash-time", "4", "--password-hash-threads", "4"}, map[string]string{"STAMP_PASSWORD_HASH_TIME": "5"}, domain.PasswordHashing{MemoryKiB: 64 * 1024, Time: 4, Threads: 4}},
	} {
		c, err := LoadConfig(tt.args, func(k string) string { return tt.env[k] })
		if err != nil {
			t.Errorf("%v %v: %v", tt.args, tt.env, err)
			continue
		}
		if got, err := c.passwordHashing(); err != nil || got != tt.want {
			t.Errorf("%v %v: got %+v, %v; want %+v", tt.args, tt.env, got, err, tt.want)
		}
	}
	for _, bad := range []struct {
		args []string
		name string
	}{
		{[]string{"--password-hash-memory-kib", "7"}, "password_hash_memory_kib"},
		{[]string{"--password-hash-memory-kib", "99999999"}, "password_hash_memory_kib"},
		{[]string{"--password-hash-time", "0"}, "password_hash_time"},
		{[]string{"--password-hash-time", "101"}, "password_hash_time"},
		{[]string{"--password-hash-threads", "0"}, "password_hash_threads"},
		{[]string{"--password-hash-threads", "256"}, "password_hash_threads"},
		{[]string{"--password-hash-memory-kib", "16", "--password-hash-threads", "4"}, "password_hash_memory_kib"},
		// The budget must hold one hash at the configured cost.
		{[]string{"--password-hash-memory-kib", "131072", "--password-hash-memory-mb", "64"}, "password_hash_memory_mb"},
	} {
		if _, err := LoadConfig(bad.args, none); err == nil || !strings.Contains(err.Error(), bad.name) {
			t.Errorf("%v: got %v; want an error naming %s", bad.args, err, bad.name)
		}
	}
	// A cheaper hash lets a smaller budget hold one.
	if _, err := LoadConfig([]string{"--password-hash-memory-kib", "1024", "--password-hash-memory-mb", "1"}, none); err != nil {
		t.Errorf("a 1 MiB budget for 1 MiB hashes: %v", err)
	}
}
