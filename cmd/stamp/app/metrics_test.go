package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stamp-oauth/stamp/domain"
)

// TestObservedLogCountsAppends appends through observedLog to a real
// event store on an embedded NATS server: a conflict (a real one:
// JetStream's expected-last-subject-sequence refuses it) is counted as
// such, a token issued by its grant type, a revocation by its event, and
// every append is timed.
func TestObservedLogCountsAppends(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.NATSPort = t.TempDir(), -1
	cfg = cfg.withDerived()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	srv, store, err := openEventStore(ctx, cfg, logger, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	defer store.Close()
	m := newMetrics(store, nil, logger)
	log := observedLog{next: store, metrics: m}

	env := func(id, typ string, data any) domain.Envelope {
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		return domain.Envelope{ID: id, Type: typ, Version: 1, Time: time.Now().UTC(), Actor: domain.Actor{Kind: domain.ActorSystem}, Data: b}
	}
	agg := domain.Aggregate{Kind: domain.KindToken, ID: "t1"}
	if _, err := log.Append(ctx, agg, domain.ExpectNew, env("e1", "AccessTokenCreated", map[string]string{"grant_type": "client_credentials"})); err != nil {
		t.Fatal(err)
	}
	_, err = log.Append(ctx, agg, domain.ExpectNew, env("e2", "AccessTokenRevoked", map[string]string{}))
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("a second ExpectNew append: %v; want ErrConflict", err)
	}
	if _, err := log.AppendAll(ctx, domain.ExpectAny,
		domain.Pending{Aggregate: agg, Envelope: env("e3", "AccessTokenRevoked", map[string]string{})},
		domain.Pending{Aggregate: domain.Aggregate{Kind: domain.KindToken, ID: "t2"}, Envelope: env("e4", "AccessTokenCreated", map[string]string{"grant_type": "refresh_token"})},
	); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		what string
		got  float64
		want float64
	}{
		{"conflicts", testutil.ToFloat64(m.appendConflicts), 1},
		{"failures", testutil.ToFloat64(m.appendFailures), 0},
		{"client_credentials tokens", testutil.ToFloat64(m.tokensIssued.WithLabelValues("client_credentials")), 1},
		{"refresh_token tokens", testutil.ToFloat64(m.tokensIssued.WithLabelValues("refresh_token")), 1},
		{"revocations", testutil.ToFloat64(m.revocations.WithLabelValues("AccessTokenRevoked")), 1}, // the conflicting one is not
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v; want %v", c.what, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.appendDuration); n != 1 {
		t.Errorf("append latency: %d series; want 1", n)
	}
}

// TestAuthFailureKind: exactly one rate of each failed authentication
// counts it, so one wrong password counts once, not once per bucket.
func TestAuthFailureKind(t *testing.T) {
	def := domain.DefaultLimits()
	counted := map[string]int{}
	for _, r := range []domain.Rate{def.LoginPair, def.LoginAccount, def.LoginAddress, def.ClientAddress, def.Client, def.UserCodeAddress, def.UserCodeUser} {
		if k := authFailureKind(r.Name); k != "" {
			counted[k]++
		}
	}
	for _, kind := range []string{"client", "user", "user_code"} {
		if counted[kind] != 1 {
			t.Errorf("%s failures are counted under %d rates; want 1", kind, counted[kind])
		}
	}
}

// TestObserveSettings: metrics on and tracing off by default; bad values
// are refused naming the setting.
func TestObserveSettings(t *testing.T) {
	c, err := LoadConfig(nil, func(string) string { return "" })
	if err != nil || !c.MetricsEnabled || c.MetricsAddress != "" || c.TracingOTLPEndpoint != "" || c.TracingSampleRatio != 1 {
		t.Fatalf("defaults: %+v, %v; want metrics on the HTTP port, tracing off, ratio 1", c.ObserveConfig, err)
	}
	env := map[string]string{"STAMP_METRICS_ENABLED": "false", "STAMP_METRICS_ADDRESS": "127.0.0.1:9100",
		"STAMP_TRACING_OTLP_ENDPOINT": "http://127.0.0.1:4318", "STAMP_TRACING_SAMPLE_RATIO": "0.25"}
	c, err = LoadConfig(nil, func(k string) string { return env[k] })
	if err != nil || c.MetricsEnabled || c.MetricsAddress != "127.0.0.1:9100" || c.TracingOTLPEndpoint != "http://127.0.0.1:4318" || c.TracingSampleRatio != 0.25 {
		t.Errorf("from the environment: %+v, %v", c.ObserveConfig, err)
	}
	for _, bad := range []struct{ flag, value, name string }{
		{"--metrics-address", "nohost", "metrics_address"},
		{"--tracing-otlp-endpoint", "collector:4318", "tracing_otlp_endpoint"},
		{"--tracing-sample-ratio", "1.5", "tracing_sample_ratio"},
		{"--tracing-sample-ratio", "half", "--tracing-sample-ratio"},
		{"--metrics-enabled", "maybe", "--metrics-enabled"},
	} {
		_, err := LoadConfig([]string{bad.flag, bad.value}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), bad.name) {
			t.Errorf("%s %s: %v; want an error naming %s", bad.flag, bad.value, err, bad.name)
		}
	}
}

// BenchmarkHTTPObserver is what metrics add to one request: the
// observer's Begin and end, counting and timing it.
func BenchmarkHTTPObserver(b *testing.B) {
	o := httpObserver{metrics: newMetrics(nil, nil, slog.New(slog.DiscardHandler))}
	req := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
	b.ReportAllocs()
	for b.Loop() {
		_, end := o.Begin(req, "/oauth/token")
		end(http.StatusOK)
	}
}
