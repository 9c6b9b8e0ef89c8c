package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// Health paths. pathHealth (/healthz) is kept as an alias of
// pathHealthAlive for the probes configured before the split.
const (
	pathHealthAlive = "/health/alive"
	pathHealthReady = "/health/ready"
)

// Health tells whether the server can answer truthfully. Its methods are
// safe for concurrent use.
type Health interface {
	// Ready runs every readiness check now (it may ask NATS, bounded by
	// ctx) and returns each with its outcome; the server is ready when
	// every one is OK.
	Ready(ctx context.Context) []HealthCheck
	// Fresh tells, without I/O, whether answers that depend on revocation
	// state (introspection, /auth/verify, bearer and cookie tokens of the
	// JSON API) may come from the local read models: false while NATS is
	// unreachable, the read models are further behind the stream than the
	// readiness bound, or their consumer is stalled.
	Fresh() bool
}

// HealthCheck is one check of GET /health/ready.
type HealthCheck struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Reason says why the check failed, or what it saw.
	Reason string `json:"reason,omitempty"`
}

// readyBody is GET /health/ready's document.
type readyBody struct {
	Ready  bool          `json:"ready"`
	Checks []HealthCheck `json:"checks"`
}

// readyTimeout bounds the checks of one GET /health/ready.
const readyTimeout = 2 * time.Second

// staleRetryAfter is the Retry-After of an answer refused by staleGate.
const staleRetryAfter = 2 * time.Second

// errStale is the refusal of an answer that would come from read models
// that are not current.
var errStale = domain.ErrTemporarilyUnavailable.WithDescription("this server cannot currently confirm revocation state; retry later")

// alive answers GET /health/alive (and /healthz): 200 while the process
// serves HTTP. It checks nothing else.
func (s *server) alive(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	w.Header().Set("Cache-Control", "no-store")
	s.respond(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// ready answers GET /health/ready: 200 when every check of
// Options.Health passes, else 503 with Retry-After; the body lists every
// check. Without Options.Health the server is always ready.
func (s *server) ready(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	w.Header().Set("Cache-Control", "no-store")
	body := readyBody{Ready: true, Checks: []HealthCheck{}}
	if s.opts.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		body.Checks = s.opts.Health.Ready(ctx)
		cancel()
	}
	for _, c := range body.Checks {
		body.Ready = body.Ready && c.OK
	}
	status := http.StatusOK
	if !body.Ready {
		status = http.StatusServiceUnavailable
		setRetryAfter(w, &domain.RetryError{Err: errStale, After: staleRetryAfter})
	}
	s.respond(w, r, status, body)
}

// staleGate returns nil when answers that depend on revocation state may
// come from the local read models (Options.Health is nil or Fresh, or
// Options.ServeStale is set), else a *domain.RetryError wrapping
// domain.ErrTemporarilyUnavailable: the caller fails closed (503 with
// Retry-After) instead of answering from a frozen model. It does no I/O.
func (s *server) staleGate() error {
	if s.opts.ServeStale || s.opts.Health == nil || s.opts.Health.Fresh() {
		return nil
	}
	return &domain.RetryError{Err: errStale, After: staleRetryAfter}
}
