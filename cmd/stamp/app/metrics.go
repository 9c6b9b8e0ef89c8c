package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/projections"
)

// readModelSet labels the node's one set of read models in the projection
// metrics (the runner applying every read model from one checkpoint).
const readModelSet = "read_models"

// scrapeTimeout bounds the NATS requests one scrape of the lag metrics
// makes.
const scrapeTimeout = 2 * time.Second

// latencyBuckets are the histogram buckets of request and append
// latencies, in seconds: a fast answer is a few milliseconds.
func latencyBuckets() []float64 {
	return []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// metrics are a node's Prometheus instruments, on a registry the node
// owns (never the global default one). The README's "Metrics" section
// lists the families. Safe for concurrent use.
type metrics struct {
	reg *prometheus.Registry

	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec
	tokensIssued    *prometheus.CounterVec
	revocations     *prometheus.CounterVec
	authFailures    *prometheus.CounterVec
	rateLimited     *prometheus.CounterVec
	appendDuration  prometheus.Histogram
	appendConflicts prometheus.Counter
	appendFailures  prometheus.Counter
}

// newMetrics registers the node's families: its own, the lag collector
// reading store and runner at scrape time, the Go runtime's and the
// process's.
func newMetrics(store *eventstore.Store, runner *projections.Runner, logger *slog.Logger) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stamp_http_requests_total",
			Help: "HTTP requests answered, by route pattern (\"unmatched\" when no route matched), method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stamp_http_request_duration_seconds",
			Help:    "Time from a request's arrival until its handler returned, by route pattern and method.",
			Buckets: latencyBuckets(),
		}, []string{"route", "method"}),
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stamp_tokens_issued_total",
			Help: "Access tokens this node recorded (AccessTokenCreated appended), by grant type.",
		}, []string{"grant_type"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stamp_revocations_total",
			Help: "Revocations this node recorded, by event (AccessTokenRevoked, RefreshTokenRevoked, ClientAuthorizationRevoked).",
		}, []string{"event"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stamp_authentication_failures_total",
			Help: "Failed authentications: client (wrong or unknown client credentials), user (wrong email or password), user_code (wrong device user code).",
		}, []string{"kind"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stamp_rate_limit_refusals_total",
			Help: "Attempts refused by a spent failure bucket, by rate (login-pair, login-account, login-address, client-address, client, user-code-address, user-code-user); one refused request counts under each spent rate.",
		}, []string{"rate"}),
		appendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stamp_append_duration_seconds",
			Help:    "Time for the log to acknowledge an append (one decision's events), conflicts and failures included.",
			Buckets: latencyBuckets(),
		}),
		appendConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stamp_append_conflicts_total",
			Help: "Appends refused because their aggregate changed since the decision was made (the decision is retried).",
		}),
		appendFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stamp_append_failures_total",
			Help: "Appends that failed for another reason than a conflict (NATS unreachable, a timeout).",
		}),
	}
	m.reg.MustRegister(m.httpRequests, m.httpDuration, m.tokensIssued, m.revocations, m.authFailures,
		m.rateLimited, m.appendDuration, m.appendConflicts, m.appendFailures,
		newLagCollector(store, runner, logger), buildInfo(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves the registry's metrics; a collector that fails is
// logged and left out of the answer, so a scrape still answers while NATS
// is unreachable.
func (m *metrics) handler(logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
	})
}

// observeHTTP counts one answered request; route "" (no route matched)
// is labelled "unmatched", and a method outside RFC 9110's "OTHER", so a
// client cannot grow the label sets.
func (m *metrics) observeHTTP(method, route string, status int, took time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
	default:
		method = "OTHER"
	}
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route, method).Observe(took.Seconds())
}

// observeAppend records one append of envs that took took and ended in
// err: its latency, a conflict or failure, and on success the tokens
// issued and revocations it recorded.
func (m *metrics) observeAppend(took time.Duration, err error, envs func(yield func(domain.Envelope) bool)) {
	m.appendDuration.Observe(took.Seconds())
	switch {
	case errors.Is(err, domain.ErrConflict):
		m.appendConflicts.Inc()
		return
	case err != nil:
		m.appendFailures.Inc()
		return
	}
	for e := range envs {
		switch e.Type {
		case "AccessTokenCreated":
			var d struct {
				GrantType string `json:"grant_type"`
			}
			if json.Unmarshal(e.Data, &d) != nil || d.GrantType == "" {
				d.GrantType = "unknown"
			}
			m.tokensIssued.WithLabelValues(d.GrantType).Inc()
		case "AccessTokenRevoked", "RefreshTokenRevoked", "ClientAuthorizationRevoked":
			m.revocations.WithLabelValues(e.Type).Inc()
		}
	}
}

// authFailureKind is the kind of failed authentication a failure counted
// under rate stands for, or "" when rate is not the one rate such a
// failure is counted under exactly once (domain.DefaultLimits' names).
func authFailureKind(rate string) string {
	switch def := domain.DefaultLimits(); rate {
	case def.ClientAddress.Name:
		return "client"
	case def.LoginAddress.Name:
		return "user"
	case def.UserCodeAddress.Name:
		return "user_code"
	}
	return ""
}

// buildInfo is stamp_build_info: 1, labelled with the module version,
// the VCS commit and the Go version (as `stamp version` prints them).
func buildInfo() prometheus.Collector {
	version, revision, goVersion := buildVersion()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "stamp_build_info",
		Help:        "Always 1; the labels name the running build.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	})
	g.Set(1)
	return g
}

// lagCollector reads, at scrape time, how far the read models and the
// listeners are behind the stream and what they parked. A part it cannot
// read (NATS unreachable) is left out of the scrape, and
// stamp_nats_connected says why.
type lagCollector struct {
	store  *eventstore.Store
	runner *projections.Runner
	logger *slog.Logger

	connected, lastSeq, applied, lag, projParked, listenerLag, listenerParked *prometheus.Desc
}

func newLagCollector(store *eventstore.Store, runner *projections.Runner, logger *slog.Logger) *lagCollector {
	return &lagCollector{
		store: store, runner: runner, logger: logger,
		connected: prometheus.NewDesc("stamp_nats_connected", "1 while the node is connected to NATS, else 0.", nil, nil),
		lastSeq:   prometheus.NewDesc("stamp_stream_last_sequence", "The STAMP stream's last sequence.", nil, nil),
		applied:   prometheus.NewDesc("stamp_projection_applied_sequence", "The last stream sequence the read model set applied.", []string{"set"}, nil),
		lag: prometheus.NewDesc("stamp_projection_lag_events",
			"Events the read model set is behind: the stream's last sequence minus the sequence it applied.", []string{"set"}, nil),
		projParked: prometheus.NewDesc("stamp_projection_parked_events",
			"Events the read model set parked (could not apply), and how many of them block their aggregate.", []string{"set", "blocking"}, nil),
		listenerLag: prometheus.NewDesc("stamp_listener_lag_events",
			"Events a durable consumer (a listener) has not settled yet: not delivered plus delivered and not acknowledged.", []string{"listener"}, nil),
		listenerParked: prometheus.NewDesc("stamp_listener_parked_events",
			"Events a listener parked after its last attempt (see stamp listeners).", []string{"listener"}, nil),
	}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connected, c.lastSeq, c.applied, c.lag, c.projParked, c.listenerLag, c.listenerParked} {
		ch <- d
	}
}

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	connected := c.store.Connected()
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, boolValue(connected))
	applied := c.runner.Applied()
	ch <- prometheus.MustNewConstMetric(c.applied, prometheus.GaugeValue, float64(applied), readModelSet)
	if parked, err := c.runner.Parked(); err == nil {
		blocking := 0
		for _, p := range parked {
			if p.Blocks {
				blocking++
			}
		}
		ch <- prometheus.MustNewConstMetric(c.projParked, prometheus.GaugeValue, float64(len(parked)-blocking), readModelSet, "false")
		ch <- prometheus.MustNewConstMetric(c.projParked, prometheus.GaugeValue, float64(blocking), readModelSet, "true")
	} else {
		c.logger.Debug("metrics: read models' parked events", "err", err)
	}
	if !connected {
		return
	}
	if last, err := c.store.LastSeq(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.lastSeq, prometheus.GaugeValue, float64(last))
		lag := uint64(0)
		if last > applied {
			lag = last - applied
		}
		ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, float64(lag), readModelSet)
	} else {
		c.logger.Debug("metrics: stream last sequence", "err", err)
	}
	consumers, err := c.store.Consumers(ctx)
	if err != nil {
		c.logger.Debug("metrics: consumers", "err", err)
		return
	}
	parked := map[string]int{}
	for _, cs := range consumers {
		parked[cs.Name] = 0
		ch <- prometheus.MustNewConstMetric(c.listenerLag, prometheus.GaugeValue, float64(cs.Pending)+float64(cs.AckPending), cs.Name)
	}
	ps, err := c.store.Parked(ctx, "")
	if err != nil {
		c.logger.Debug("metrics: parked events", "err", err)
		return
	}
	for _, p := range ps {
		parked[p.Listener]++
	}
	for name, n := range parked {
		ch <- prometheus.MustNewConstMetric(c.listenerParked, prometheus.GaugeValue, float64(n), name)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
