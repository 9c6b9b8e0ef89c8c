package integration

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a real OTLP/HTTP trace receiver: it decodes the
// protobuf export requests POSTed to /v1/traces, as a collector does,
// and keeps their spans.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	srv   *httptest.Server
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP receiver: %s %s (%s); want POST /v1/traces, application/x-protobuf", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
			http.Error(w, "unexpected", http.StatusBadRequest)
			return
		}
		var body io.Reader = req.Body
		if req.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(req.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var export collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &export); err != nil {
			t.Errorf("OTLP receiver: decode: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				r.spans = append(r.spans, ss.GetSpans()...)
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// trace returns the spans received of trace id, by name (the last of a
// name wins).
func (r *otlpReceiver) trace(id []byte) map[string]*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]*tracepb.Span{}
	for _, s := range r.spans {
		if string(s.GetTraceId()) == string(id) {
			out[s.GetName()] = s
		}
	}
	return out
}

// TestTracingOneTokenRequest: with tracing_otlp_endpoint set, one token
// request that carries a W3C traceparent reaches the receiver as one
// trace: the HTTP server span (a child of the caller's span), the
// service's command under it, and the append and the projection wait
// under the command.
func TestTracingOneTokenRequest(t *testing.T) {
	recv := newOTLPReceiver(t)
	e := newEnv(t, "STAMP_TRACING_OTLP_ENDPOINT", recv.srv.URL)
	n := e.start()
	id, secret := e.createClient(n, "traced")

	traceID, _ := hex.DecodeString("4bf92f3577b34da6a3ce929d0e0e4736")
	callerSpan, _ := hex.DecodeString("00f067aa0ba902b7")
	req, err := http.NewRequest(http.MethodPost, n.HTTPURL()+"/oauth/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("traceparent", "00-"+hex.EncodeToString(traceID)+"-"+hex.EncodeToString(callerSpan)+"-01")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token: %d", resp.StatusCode)
	}

	// Closing the node flushes the spans it still buffers.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	spans := recv.trace(traceID)
	names := make([]string, 0, len(spans))
	for name := range spans {
		names = append(names, name)
	}
	for _, link := range []struct {
		child  string
		parent string // "" for the caller's span
	}{
		{"POST /oauth/token", ""},
		{"domain.Token", "POST /oauth/token"},
		{"eventstore.Append", "domain.Token"},
		{"projections.WaitFor", "domain.Token"},
	} {
		s, ok := spans[link.child]
		if !ok {
			t.Errorf("trace %x has no span %q (it has %v)", traceID, link.child, names)
			continue
		}
		want := callerSpan
		if link.parent != "" {
			p, ok := spans[link.parent]
			if !ok {
				continue // reported above
			}
			want = p.GetSpanId()
		}
		if string(s.GetParentSpanId()) != string(want) {
			t.Errorf("span %q: parent %x; want %x (%s)", link.child, s.GetParentSpanId(), want, orCaller(link.parent))
		}
	}
	if s, ok := spans["POST /oauth/token"]; ok && s.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("the HTTP span's kind is %v; want server", s.GetKind())
	}
}

func orCaller(parent string) string {
	if parent == "" {
		return "the caller's span"
	}
	return parent
}
