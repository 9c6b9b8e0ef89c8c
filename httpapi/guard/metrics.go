package guard

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// verdict is the outcome of one token check (authenticate), a label of
// stamp_guard_verifications_total.
type verdict int

const (
	verdictValid         verdict = iota // the token validated
	verdictNoToken                      // the request carried none
	verdictInvalid                      // bad signature, issuer, expiry or form
	verdictWrongAudience                // valid, but meant for another audience
	verdictRevoked                      // revoked, or its client or user deleted
	verdictUnavailable                  // the guard was not current: 503
	numVerdicts
)

func (v verdict) String() string {
	return [...]string{"valid", "no_token", "invalid", "wrong_audience", "revoked", "unavailable"}[v]
}

// count records one check's verdict. It does not allocate.
func (g *Guard) count(v verdict) { g.verdicts[v].Add(1) }

// Collector returns the guard's metrics, for the resource server to
// register on its Prometheus registry (the guard registers nothing
// itself, anywhere):
//
//   - stamp_guard_verifications_total{result}: token checks by result —
//     valid, no_token, invalid, wrong_audience, revoked, unavailable (a
//     503 because the feed was not current); a scope or client rule that
//     refuses a valid token counts as valid here;
//   - stamp_guard_revocation_feed_current: 1 while the revocation feed is
//     current (the guard accepts tokens), else 0;
//   - stamp_guard_revocation_feed_lag_seconds: how long the feed has not
//     been current, 0 while it is (the guard answers 503 meanwhile);
//   - stamp_guard_revocations{kind}: the revoked tokens (until their
//     expiry), deleted clients and deleted users the guard holds.
//
// Each call returns a new collector reading the same guard; register one.
// Collecting is safe for concurrent use and costs the checks nothing: the
// counts are atomic counters the middleware increments.
func (g *Guard) Collector() prometheus.Collector {
	return &collector{
		g: g,
		verifications: prometheus.NewDesc("stamp_guard_verifications_total",
			"Token checks by the guard, by result.", []string{"result"}, nil),
		current: prometheus.NewDesc("stamp_guard_revocation_feed_current",
			"1 while the guard's revocation feed is current and it accepts tokens, else 0.", nil, nil),
		lag: prometheus.NewDesc("stamp_guard_revocation_feed_lag_seconds",
			"How long the revocation feed has not been current (0 while it is); the guard answers 503 meanwhile.", nil, nil),
		held: prometheus.NewDesc("stamp_guard_revocations",
			"Revocations the guard holds: revoked tokens until their expiry, deleted clients, deleted users.", []string{"kind"}, nil),
	}
}

type collector struct {
	g                                 *Guard
	verifications, current, lag, held *prometheus.Desc
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.verifications
	ch <- c.current
	ch <- c.lag
	ch <- c.held
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	for v := range numVerdicts {
		ch <- prometheus.MustNewConstMetric(c.verifications, prometheus.CounterValue, float64(g.verdicts[v].Load()), v.String())
	}
	current, lag := 1.0, 0.0
	if !g.Current() {
		current = 0
		if since := g.notCurrentSince.Load(); since != 0 {
			lag = max(0, time.Since(time.Unix(0, since)).Seconds())
		}
	}
	ch <- prometheus.MustNewConstMetric(c.current, prometheus.GaugeValue, current)
	ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, lag)
	tokens, clients, users := g.revs.size()
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(tokens), "token")
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(clients), "client")
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(users), "user")
}
