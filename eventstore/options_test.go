package eventstore

import (
	"testing"
	"time"
)

// Every options type: Validate only checks (the zero fields stay zero),
// and withDefaults fills exactly the zero fields.
func TestOptionsConvention(t *testing.T) {
	t.Run("Options", func(t *testing.T) {
		o := Options{URL: "nats://x"}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		if o.DuplicateWindow != 0 || o.Name != "" {
			t.Errorf("Validate changed its receiver: %+v", o)
		}
		d := o.withDefaults()
		if d.Replicas != DefaultReplicas || d.DuplicateWindow != DefaultDuplicateWindow || d.Name != "stamp" ||
			d.StallAfter != DefaultStallAfter || d.WatchEvery != DefaultWatchEvery || d.Logger == nil {
			t.Errorf("withDefaults() = %+v", d)
		}
		set := Options{URL: "nats://x", Replicas: 3, DuplicateWindow: time.Minute, Name: "n"}.withDefaults()
		if set.Replicas != 3 || set.DuplicateWindow != time.Minute || set.Name != "n" {
			t.Errorf("withDefaults changed set fields: %+v", set)
		}
		if err := (Options{URL: "nats://x", DuplicateWindow: -1}).Validate(); err == nil {
			t.Error("negative DuplicateWindow: valid")
		}
	})
	t.Run("LimiterOptions", func(t *testing.T) {
		tests := []struct {
			name  string
			opts  LimiterOptions
			valid bool
		}{
			{"ttl", LimiterOptions{TTL: time.Hour}, true},
			{"no ttl", LimiterOptions{}, false},
			{"negative ttl", LimiterOptions{TTL: -time.Hour}, false},
			{"negative max keys", LimiterOptions{TTL: time.Hour, MaxKeys: -1}, false},
			{"max keys", LimiterOptions{TTL: time.Hour, MaxKeys: 10}, true},
		}
		for _, tt := range tests {
			if err := tt.opts.Validate(); (err == nil) != tt.valid {
				t.Errorf("%s: Validate() = %v; want valid %v", tt.name, err, tt.valid)
			}
		}
		d := LimiterOptions{TTL: time.Hour}.withDefaults()
		if d.MaxKeys != defaultMirrorKeys || d.Now == nil || d.Logger == nil {
			t.Errorf("withDefaults() = %+v", d)
		}
		if d := (LimiterOptions{TTL: time.Hour, MaxKeys: 10}).withDefaults(); d.MaxKeys != 10 {
			t.Errorf("withDefaults changed MaxKeys 10 to %d", d.MaxKeys)
		}
	})
	t.Run("DevicePollOptions", func(t *testing.T) {
		if err := (DevicePollOptions{}).Validate(); err == nil {
			t.Error("no TTL: valid")
		}
		if err := (DevicePollOptions{TTL: time.Minute}).Validate(); err != nil {
			t.Errorf("TTL: %v", err)
		}
		if d := (DevicePollOptions{TTL: time.Minute}).withDefaults(); d.Logger == nil || d.TTL != time.Minute {
			t.Errorf("withDefaults() = %+v", d)
		}
	})
	t.Run("ReadOptions", func(t *testing.T) {
		if err := (ReadOptions{From: 2, Since: time.Now()}).Validate(); err == nil {
			t.Error("From and Since: valid")
		}
		if err := (ReadOptions{From: 1, Since: time.Now()}).Validate(); err != nil {
			t.Errorf("From 1 (the beginning) and Since: %v", err)
		}
	})
}
