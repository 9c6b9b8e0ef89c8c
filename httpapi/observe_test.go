package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// observed is one request a recordingObserver saw.
type observed struct {
	Route  string
	Status int
}

// recordingObserver records what it is told and puts a value in the
// context it returns, so a test can see the handler was served with it.
type recordingObserver struct {
	mu   sync.Mutex
	seen []observed
}

type observerKey struct{}

func (o *recordingObserver) Begin(r *http.Request, route string) (context.Context, func(int)) {
	return context.WithValue(r.Context(), observerKey{}, route), func(status int) {
		o.mu.Lock()
		o.seen = append(o.seen, observed{route, status})
		o.mu.Unlock()
	}
}

// TestObserver: the observer sees each request once, with its route's
// pattern ("" when no route matched, so no raw path) and the status
// answered, and the handler runs with the context Begin returned;
// Options.Metrics is served at GET /metrics, and nothing is without it.
func TestObserver(t *testing.T) {
	obs := &recordingObserver{}
	var metricsCtx any
	metrics := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		metricsCtx = r.Context().Value(observerKey{})
		w.WriteHeader(http.StatusOK)
	})
	h := newHarness(t, &fakeService{}, nil, Options{Observer: obs, Metrics: metrics})
	for _, r := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/metrics", nil),
		httptest.NewRequest(http.MethodGet, "/nope/secret-path", nil),
		httptest.NewRequest(http.MethodGet, pathToken, nil),
		httptest.NewRequest(http.MethodDelete, "/oauth/tokens/tok-1", nil),
		httptest.NewRequest(http.MethodGet, pathHealth, nil),
	} {
		h.do(r)
	}
	want := []observed{
		{"/metrics", http.StatusOK},
		{"", http.StatusNotFound},
		{"", http.StatusMethodNotAllowed},
		{pathTokenByID, http.StatusUnauthorized},
		{pathHealth, http.StatusOK},
	}
	if diff := cmp.Diff(want, obs.seen); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
	if metricsCtx != "/metrics" {
		t.Errorf("the /metrics handler's context holds %v; want the observer's value", metricsCtx)
	}

	plain := newHarness(t, &fakeService{}, nil, Options{})
	if rec := plain.do(httptest.NewRequest(http.MethodGet, "/metrics", nil)); rec.Code != http.StatusNotFound {
		t.Errorf("GET /metrics without Options.Metrics: %d; want 404", rec.Code)
	}
}
