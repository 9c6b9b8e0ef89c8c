package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// fakeHealth is a settable Health.
type fakeHealth struct {
	fresh  atomic.Bool
	checks []HealthCheck
}

func (f *fakeHealth) Ready(context.Context) []HealthCheck { return f.checks }
func (f *fakeHealth) Fresh() bool                         { return f.fresh.Load() }

func TestHealthEndpoints(t *testing.T) {
	fh := &fakeHealth{checks: []HealthCheck{{Name: "nats", OK: true}, {Name: "read_models", OK: true, Reason: "applied 5, 0 behind"}}}
	fh.fresh.Store(true)
	h := newHarness(t, &fakeService{}, nil, Options{Health: fh})

	for _, path := range []string{"/health/alive", "/healthz"} {
		if rec := h.do(httptest.NewRequest(http.MethodGet, path, nil)); rec.Code != http.StatusOK {
			t.Errorf("GET %s = %d; want 200", path, rec.Code)
		}
	}
	rec := h.do(httptest.NewRequest(http.MethodGet, "/health/ready", nil))
	body := decodeJSON[readyBody](t, rec)
	if rec.Code != http.StatusOK || !body.Ready || len(body.Checks) != 2 {
		t.Errorf("GET /health/ready = %d %+v; want 200, ready, 2 checks", rec.Code, body)
	}

	fh.checks = append(fh.checks, HealthCheck{Name: "consumers", Reason: "stalled: follow stamp.>"})
	rec = h.do(httptest.NewRequest(http.MethodGet, "/health/ready", nil))
	body = decodeJSON[readyBody](t, rec)
	if rec.Code != http.StatusServiceUnavailable || body.Ready || rec.Header().Get("Retry-After") == "" {
		t.Errorf("GET /health/ready with a failing check = %d %+v (Retry-After %q); want 503, not ready, Retry-After", rec.Code, body, rec.Header().Get("Retry-After"))
	}
	if got := body.Checks[2]; got.OK || got.Reason == "" {
		t.Errorf("failing check = %+v; want ok false with its reason", got)
	}
}

// TestStaleGate: while Health is not fresh, introspection, /auth/verify
// and the JSON API's bearer tokens answer 503 with Retry-After without
// asking the service; with ServeStale they answer as before.
func TestStaleGate(t *testing.T) {
	for _, serveStale := range []bool{false, true} {
		fh := &fakeHealth{}
		svc := &fakeService{}
		h := newHarness(t, svc, nil, Options{Health: fh, ServeStale: serveStale})
		raw := "bearer-user"
		h.tokens.add(raw, domain.AccessToken{ID: "jti-user", ClientID: "cli", UserID: testUser.ID, Scopes: []string{"*"}, GrantType: domain.GrantPassword})

		r := formPost("/oauth/introspect", "token=abc")
		r.SetBasicAuth("client-1", "s3cret")
		intro := h.do(r)
		vr := httptest.NewRequest(http.MethodGet, "/auth/verify", nil)
		vr.Header.Set("Authorization", "Bearer "+raw)
		verify := h.do(vr)
		ar := httptest.NewRequest(http.MethodGet, "/oauth/clients", nil)
		ar.Header.Set("Authorization", "Bearer "+raw)
		api := h.do(ar)

		for name, rec := range map[string]*httptest.ResponseRecorder{"introspect": intro, "verify": verify, "api": api} {
			if serveStale {
				if rec.Code == http.StatusServiceUnavailable {
					t.Errorf("serve_stale: %s = 503; want an answer from the read models", name)
				}
				continue
			}
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
				t.Errorf("not fresh: %s = %d (Retry-After %q); want 503 with Retry-After", name, rec.Code, rec.Header().Get("Retry-After"))
			}
		}
		if !serveStale {
			if svc.calls != 0 {
				t.Errorf("not fresh: the service was asked %d times; want 0", svc.calls)
			}
			if body := decodeJSON[errorBody](t, intro); body.Error != "temporarily_unavailable" {
				t.Errorf("not fresh: introspect body %+v; want temporarily_unavailable", body)
			}
		}
	}
}
