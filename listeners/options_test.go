package listeners

import (
	"strings"
	"testing"
	"time"
)

func TestRunnerOptions(t *testing.T) {
	var zero RunnerOptions
	if err := zero.Validate(); err != nil {
		t.Fatalf("Validate(zero) = %v; want nil: zero fields take defaults", err)
	}
	d := zero.withDefaults()
	if d.MaxAttempts != DefaultMaxAttempts || d.MaxBackoff != DefaultMaxBackoff || d.HandleTimeout != DefaultHandleTimeout ||
		d.Backoff == nil || d.Logger == nil {
		t.Errorf("withDefaults = %+v; want every default", d)
	}
	if zero.Logger != nil || zero.Backoff != nil {
		t.Errorf("withDefaults changed its receiver")
	}
	set := RunnerOptions{MaxAttempts: 2, MaxBackoff: time.Second, HandleTimeout: time.Second}
	if d := set.withDefaults(); d.MaxAttempts != 2 || d.MaxBackoff != time.Second || d.HandleTimeout != time.Second {
		t.Errorf("withDefaults replaced set fields: %+v", d)
	}
	for _, tc := range []struct {
		o     RunnerOptions
		field string
	}{
		{RunnerOptions{MaxAttempts: -1}, "MaxAttempts"},
		{RunnerOptions{MaxBackoff: -time.Second}, "MaxBackoff"},
		{RunnerOptions{HandleTimeout: -time.Second}, "HandleTimeout"},
	} {
		if err := tc.o.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("Validate(%+v) = %v; want an error naming %s", tc.o, err, tc.field)
		}
	}
}

func TestWebhookOptions(t *testing.T) {
	o := WebhookOptions{Name: "h", URL: "https://hooks.example/in", Secret: []byte(strings.Repeat("k", minWebhookSecret))}
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if o.Filter != "" || o.Client != nil || o.Now != nil {
		t.Errorf("Validate filled defaults: %+v", o)
	}
	w, err := NewWebhook(o)
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	if w.filter != DefaultWebhookFilter || w.client == nil || w.client.Timeout != DefaultWebhookTimeout || w.now == nil || w.Name() != "webhook-h" {
		t.Errorf("NewWebhook did not apply the defaults: filter %q, client %v, now set %v, name %q", w.filter, w.client, w.now != nil, w.Name())
	}
	for _, tc := range []struct {
		modify func(*WebhookOptions)
		want   string
	}{
		{func(o *WebhookOptions) { o.Name = "a b" }, "webhook name"},
		{func(o *WebhookOptions) { o.URL = "ftp://x" }, "URL"},
		{func(o *WebhookOptions) { o.Secret = o.Secret[:minWebhookSecret-1] }, "secret"},
		{func(o *WebhookOptions) { o.Types = []string{"NoSuchEvent"} }, "unknown event type"},
	} {
		bad := o
		tc.modify(&bad)
		if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate = %v; want an error about %s", err, tc.want)
		}
		if _, err := NewWebhook(bad); err == nil {
			t.Errorf("NewWebhook accepted options Validate refuses (%s)", tc.want)
		}
	}
}
