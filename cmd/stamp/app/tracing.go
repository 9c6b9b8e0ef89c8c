package app

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/stamp-oauth/stamp/domain"
)

// tracerName names the instrumentation scope of stamp's spans.
const tracerName = "github.com/stamp-oauth/stamp"

// tracing is a node's OpenTelemetry tracer provider, exporting over
// OTLP/HTTP in batches. It is the node's own (never the global provider):
// spans are made in the shells around the parts (httpObserver,
// tracedService, observedLog, tracedWaiter), and the request's context
// carries the parent from one to the next.
type tracing struct {
	provider   *sdktrace.TracerProvider
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
}

// newTracing starts the exporter to c.TracingOTLPEndpoint's /v1/traces,
// sampling c.TracingSampleRatio of new traces and every trace whose
// incoming parent was sampled. It returns nil, nil when the endpoint is
// empty (tracing off). The exporter connects lazily: an unreachable
// collector loses spans (logged by the SDK), never a request.
func newTracing(ctx context.Context, c ObserveConfig) (*tracing, error) {
	if c.TracingOTLPEndpoint == "" {
		return nil, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(strings.TrimSuffix(c.TracingOTLPEndpoint, "/")+"/v1/traces"))
	if err != nil {
		return nil, fmt.Errorf("tracing_otlp_endpoint: %w", err)
	}
	version, _, _ := buildVersion()
	res := resource.NewSchemaless(attribute.String("service.name", "stamp"), attribute.String("service.version", version))
	p := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.TracingSampleRatio))),
	)
	return &tracing{provider: p, tracer: p.Tracer(tracerName), propagator: propagation.TraceContext{}}, nil
}

// shutdown exports the spans still buffered (until ctx ends) and stops
// the exporter. A nil t does nothing.
func (t *tracing) shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// endSpan ends span, marking it failed with err when err is not nil.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// tracedService is the application service as the OAuth endpoints use
// it (httpapi.Service), with a span around each command: the domain
// decision, between the HTTP request's span and the append's.
type tracedService struct {
	*domain.Service
	tracer trace.Tracer
}

func (s tracedService) Token(ctx context.Context, req domain.TokenRequest) (_ domain.TokenResponse, err error) {
	grant := req.GrantType // the client's text: bounded
	if len(grant) > 64 {
		grant = grant[:64]
	}
	ctx, span := s.tracer.Start(ctx, "domain.Token", trace.WithAttributes(attribute.String("oauth.grant_type", grant)))
	defer func() { endSpan(span, err) }()
	return s.Service.Token(ctx, req)
}

func (s tracedService) Introspect(ctx context.Context, caller domain.ClientCredentials, token string) (_ domain.Introspection, err error) {
	ctx, span := s.tracer.Start(ctx, "domain.Introspect")
	defer func() { endSpan(span, err) }()
	return s.Service.Introspect(ctx, caller, token)
}

func (s tracedService) Revoke(ctx context.Context, caller domain.ClientCredentials, token, hint string) (err error) {
	ctx, span := s.tracer.Start(ctx, "domain.Revoke")
	defer func() { endSpan(span, err) }()
	return s.Service.Revoke(ctx, caller, token, hint)
}

// tracedWaiter is the service's Waiter with a span around each wait for
// the read models to apply a sequence.
type tracedWaiter struct {
	next   domain.Waiter
	tracer trace.Tracer
}

func (w tracedWaiter) WaitFor(ctx context.Context, seq uint64) (err error) {
	ctx, span := w.tracer.Start(ctx, "projections.WaitFor", trace.WithAttributes(attribute.Int64("stamp.seq", int64(seq))))
	defer func() { endSpan(span, err) }()
	return w.next.WaitFor(ctx, seq)
}
