package guard

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// gather collects c through a registry (which also checks that its
// metrics are consistent with their descriptions) and returns each
// sample's value by family name and label values.
func gather(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetValue()
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	return got
}

// TestCollectorCountsVerdicts: each way the middleware answers counts
// under its result, the feed's state and the revocations held are
// reported, and the collector passes the client library's lint.
func TestCollectorCountsVerdicts(t *testing.T) {
	f := newFixture(t)
	f.g.opts.Audience = ""
	tok := f.sign(f.claims(), nil)
	do(f.g.Auth, tok)
	do(f.g.Scopes("write"), tok) // valid, refused by the rule: counts as valid
	do(f.g.Auth, "")
	do(f.g.Auth, "not-a-token")
	f.sink.Revoked("jti-1", f.clock.Now().Add(time.Hour))
	f.sink.ClientDeleted("client-9")
	do(f.g.Auth, tok)
	f.sink.Current(false)
	do(f.g.Auth, tok)

	got := gather(t, f.g.Collector())
	want := map[string]float64{
		"stamp_guard_verifications_total valid":          2,
		"stamp_guard_verifications_total no_token":       1,
		"stamp_guard_verifications_total invalid":        1,
		"stamp_guard_verifications_total wrong_audience": 0,
		"stamp_guard_verifications_total revoked":        1,
		"stamp_guard_verifications_total unavailable":    1,
		"stamp_guard_revocation_feed_current":            0,
		"stamp_guard_revocations token":                  1,
		"stamp_guard_revocations client":                 1,
		"stamp_guard_revocations user":                   0,
	}
	lag, ok := got["stamp_guard_revocation_feed_lag_seconds"]
	if !ok || lag < 0 {
		t.Errorf("stamp_guard_revocation_feed_lag_seconds = %v (present %v); want a value ≥ 0 while not current", lag, ok)
	}
	delete(got, "stamp_guard_revocation_feed_lag_seconds")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}

	f.sink.Current(true)
	got = gather(t, f.g.Collector())
	if got["stamp_guard_revocation_feed_current"] != 1 || got["stamp_guard_revocation_feed_lag_seconds"] != 0 {
		t.Errorf("current again: current %v, lag %v; want 1 and 0", got["stamp_guard_revocation_feed_current"], got["stamp_guard_revocation_feed_lag_seconds"])
	}
	if problems, err := testutil.CollectAndLint(f.g.Collector()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
