package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/httpapi"
	"github.com/stamp-oauth/stamp/projections"
)

// observability is what a node measures and traces: its metrics (nil when
// metrics_enabled is false), its tracing (nil when tracing is off), and
// the admin listener serving /metrics when metrics_address is set. Every
// method is safe on a nil *observability (all off), so a node that failed
// to start can close it.
type observability struct {
	metrics *metrics
	tracing *tracing
	logger  *slog.Logger

	admin         *http.Server // nil unless metrics_address
	adminListener net.Listener
	adminDone     chan struct{}
}

// startObservability builds the metrics and tracing c asks for and binds
// the admin listener. It returns an error for an address that cannot be
// bound or a tracing endpoint the exporter refuses.
func startObservability(ctx context.Context, c ObserveConfig, store *eventstore.Store, runner *projections.Runner, logger *slog.Logger) (*observability, error) {
	o := &observability{logger: logger}
	if c.MetricsEnabled {
		o.metrics = newMetrics(store, runner, logger)
	}
	var err error
	if o.tracing, err = newTracing(ctx, c); err != nil {
		return nil, err
	}
	if o.metrics != nil && c.MetricsAddress != "" {
		if o.adminListener, err = net.Listen("tcp", c.MetricsAddress); err != nil {
			_ = o.tracing.shutdown(ctx)
			return nil, fmt.Errorf("metrics_address: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", o.metrics.handler(logger))
		o.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
		o.adminDone = make(chan struct{})
		go func() {
			defer close(o.adminDone)
			if err := o.admin.Serve(o.adminListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("metrics server stopped", "err", err)
			}
		}()
	}
	return o, nil
}

// metricsURL is where /metrics is served: the admin listener's URL, ""
// when /metrics is on the HTTP port or off.
func (o *observability) metricsURL() string {
	if o == nil || o.adminListener == nil {
		return ""
	}
	return "http://" + o.adminListener.Addr().String() + "/metrics"
}

// close stops the admin listener and flushes the spans still buffered,
// until ctx ends.
func (o *observability) close(ctx context.Context) error {
	if o == nil {
		return nil
	}
	var errs []error
	if o.admin != nil {
		if err := o.admin.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("metrics server shutdown: %w", err))
		}
		<-o.adminDone
	}
	errs = append(errs, o.tracing.shutdown(ctx))
	return errors.Join(errs...)
}

// wrapPorts returns p with the event log, the waiter and the limiter
// observed: append latency, conflicts, tokens issued and revocations
// from the log; refusals and failed authentications from the limiter;
// append and wait spans.
func (o *observability) wrapPorts(p domain.Ports) domain.Ports {
	if o == nil || (o.metrics == nil && o.tracing == nil) {
		return p
	}
	var tracer trace.Tracer
	if o.tracing != nil {
		tracer = o.tracing.tracer
		if p.Wait != nil {
			p.Wait = tracedWaiter{next: p.Wait, tracer: tracer}
		}
	}
	if p.Log != nil {
		p.Log = observedLog{next: p.Log, metrics: o.metrics, tracer: tracer}
	}
	if o.metrics != nil && p.Limiter != nil {
		p.Limiter = observedLimiter{next: p.Limiter, metrics: o.metrics}
	}
	return p
}

// service returns the service the OAuth endpoints call: svc, with a span
// around each command when tracing is on.
func (o *observability) service(svc *domain.Service) httpapi.Service {
	if o == nil || o.tracing == nil {
		return svc
	}
	return tracedService{Service: svc, tracer: o.tracing.tracer}
}

// httpOptions sets the observer and, unless an admin address serves it,
// the /metrics handler of the HTTP API's options.
func (o *observability) httpOptions(opts httpapi.Options) httpapi.Options {
	if o == nil || (o.metrics == nil && o.tracing == nil) {
		return opts
	}
	obs := httpObserver{metrics: o.metrics}
	if o.tracing != nil {
		obs.tracer, obs.propagator = o.tracing.tracer, o.tracing.propagator
	}
	opts.Observer = obs
	if o.metrics != nil && o.admin == nil {
		opts.Metrics = o.metrics.handler(o.logger)
	}
	return opts
}

// httpObserver is the httpapi.Observer of a node: it counts and times
// every request and, with tracing, serves it in a server span, a child of
// the W3C traceparent the request carries.
type httpObserver struct {
	metrics    *metrics // nil: no metrics
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

func (o httpObserver) Begin(r *http.Request, route string) (context.Context, func(status int)) {
	start := time.Now()
	ctx := r.Context()
	var span trace.Span
	if o.tracer != nil {
		ctx = o.propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
		name := r.Method
		if route != "" {
			name += " " + route
		}
		ctx, span = o.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("http.route", route)))
	}
	return ctx, func(status int) {
		if o.metrics != nil {
			o.metrics.observeHTTP(r.Method, route, status, time.Since(start))
		}
		if span != nil {
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			span.End()
		}
	}
}

// observedLog is the service's event log, measured (metrics may be nil)
// and traced (tracer may be nil).
type observedLog struct {
	next    domain.EventLog
	metrics *metrics
	tracer  trace.Tracer
}

func (l observedLog) Append(ctx context.Context, agg domain.Aggregate, expect domain.Expect, events ...domain.Envelope) (seq uint64, err error) {
	ctx, end := l.begin(ctx, "eventstore.Append", len(events))
	defer func() {
		end(seq, err, func(yield func(domain.Envelope) bool) {
			for _, e := range events {
				if !yield(e) {
					return
				}
			}
		})
	}()
	return l.next.Append(ctx, agg, expect, events...)
}

func (l observedLog) AppendAll(ctx context.Context, expect domain.Expect, events ...domain.Pending) (seq uint64, err error) {
	ctx, end := l.begin(ctx, "eventstore.AppendAll", len(events))
	defer func() {
		end(seq, err, func(yield func(domain.Envelope) bool) {
			for _, p := range events {
				if !yield(p.Envelope) {
					return
				}
			}
		})
	}()
	return l.next.AppendAll(ctx, expect, events...)
}

func (l observedLog) Load(ctx context.Context, agg domain.Aggregate) ([]domain.Recorded, error) {
	return l.next.Load(ctx, agg)
}

// begin starts observing one append of n events; end records its
// outcome.
func (l observedLog) begin(ctx context.Context, name string, n int) (context.Context, func(seq uint64, err error, envs func(func(domain.Envelope) bool))) {
	start := time.Now()
	var span trace.Span
	if l.tracer != nil {
		ctx, span = l.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attribute.Int("stamp.events", n)))
	}
	return ctx, func(seq uint64, err error, envs func(func(domain.Envelope) bool)) {
		if l.metrics != nil {
			l.metrics.observeAppend(time.Since(start), err, envs)
		}
		if span != nil {
			if err == nil {
				span.SetAttributes(attribute.Int64("stamp.seq", int64(seq)))
			}
			if errors.Is(err, domain.ErrConflict) {
				span.SetAttributes(attribute.Bool("stamp.conflict", true))
			}
			endSpan(span, err)
		}
	}
}

// observedLimiter is the service's limiter, counting refusals by rate and
// failed authentications by kind.
type observedLimiter struct {
	next    domain.Limiter
	metrics *metrics
}

func (l observedLimiter) Wait(ctx context.Context, rate domain.Rate, key string) (time.Duration, error) {
	d, err := l.next.Wait(ctx, rate, key)
	if err == nil && d > 0 {
		l.metrics.rateLimited.WithLabelValues(rate.Name).Inc()
	}
	return d, err
}

func (l observedLimiter) Fail(ctx context.Context, rate domain.Rate, key string) error {
	if kind := authFailureKind(rate.Name); kind != "" {
		l.metrics.authFailures.WithLabelValues(kind).Inc()
	}
	return l.next.Fail(ctx, rate, key)
}

func (l observedLimiter) Reset(ctx context.Context, rate domain.Rate, key string) error {
	return l.next.Reset(ctx, rate, key)
}

// buildVersion returns the module version ("(devel)" for a build from a
// work tree), the VCS commit and the Go version of the running binary,
// "unknown" for what it does not record.
func buildVersion() (version, revision, goVersion string) {
	version, revision, goVersion = "unknown", "unknown", "unknown"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	version, goVersion = info.Main.Version, info.GoVersion
	if version == "" {
		version = "(devel)"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			revision = s.Value
		}
	}
	return
}

// MetricsURL returns where the node serves /metrics: on the admin
// address when metrics_address is set, else on the HTTP port; "" when
// metrics_enabled is false.
func (n *Node) MetricsURL() string {
	if u := n.obs.metricsURL(); u != "" {
		return u
	}
	if n.obs == nil || n.obs.metrics == nil {
		return ""
	}
	return n.HTTPURL() + "/metrics"
}
