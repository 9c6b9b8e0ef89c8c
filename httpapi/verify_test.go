package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

func TestVerify(t *testing.T) {
	h := apiHarness(t)
	h.tokens.add("bearer-scoped", domain.AccessToken{
		ID: "jti-scoped", ClientID: "app", UserID: testUser.ID, Scopes: []string{"orders:read", "orders:write"},
	})
	tests := []struct {
		name, target, authorization string
		want                        int
		challenge                   string
		headers                     map[string]string
	}{
		{name: "user token", target: "/auth/verify", authorization: "Bearer bearer-scoped", want: http.StatusOK,
			headers: map[string]string{headerUserID: testUser.ID, headerClientID: "app", headerScopes: "orders:read orders:write", headerTokenID: "jti-scoped"}},
		{name: "client credentials", target: "/auth/verify", authorization: "Bearer " + bearerClient, want: http.StatusOK,
			headers: map[string]string{headerUserID: "", headerClientID: "machine", headerScopes: "*", headerTokenID: "jti-cc"}},
		{name: "scopes, all held", target: "/auth/verify?scopes=orders:read,orders:write", authorization: "Bearer bearer-scoped", want: http.StatusOK},
		{name: "scopes, one missing", target: "/auth/verify?scopes=orders:read,admin", authorization: "Bearer bearer-scoped",
			want: http.StatusForbidden, challenge: `Bearer error="insufficient_scope", scope="orders:read admin"`},
		{name: "scope, one held", target: "/auth/verify?scope=admin,orders:write", authorization: "Bearer bearer-scoped", want: http.StatusOK},
		{name: "scope, none held", target: "/auth/verify?scope=admin,billing", authorization: "Bearer bearer-scoped",
			want: http.StatusForbidden, challenge: `Bearer error="insufficient_scope", scope="admin billing"`},
		{name: "scope and scopes, each a requirement", target: "/auth/verify?scope=orders:read&scopes=admin", authorization: "Bearer bearer-scoped",
			want: http.StatusForbidden, challenge: `Bearer error="insufficient_scope", scope="admin"`},
		{name: "escaped list", target: "/auth/verify?scopes=orders%3Aread%2Corders%3Awrite", authorization: "Bearer bearer-scoped", want: http.StatusOK},
		{name: "quotes dropped from the challenge", target: `/auth/verify?scopes=a%22b`, authorization: "Bearer bearer-scoped",
			want: http.StatusForbidden, challenge: `Bearer error="insufficient_scope", scope="ab"`},
		{name: "wildcard covers all", target: "/auth/verify?scopes=anything,else", authorization: "Bearer " + bearerClient, want: http.StatusOK},
		{name: "empty requirement", target: "/auth/verify?scope=&scopes=", authorization: "Bearer bearer-scoped", want: http.StatusOK},
		{name: "no token", target: "/auth/verify", want: http.StatusUnauthorized, challenge: "Bearer"},
		{name: "basic credentials", target: "/auth/verify", authorization: "Basic dTpw", want: http.StatusUnauthorized, challenge: "Bearer"},
		{name: "invalid token", target: "/auth/verify", authorization: "Bearer nope", want: http.StatusUnauthorized, challenge: `Bearer error="invalid_token"`},
		{name: "revoked token", target: "/auth/verify", authorization: "Bearer revoked", want: http.StatusUnauthorized, challenge: `Bearer error="invalid_token"`},
		{name: "envoy path", target: "/auth/verify/api/orders", authorization: "Bearer bearer-scoped", want: http.StatusOK,
			headers: map[string]string{headerUserID: testUser.ID}},
		{name: "envoy path ignores the original query", target: "/auth/verify/api/orders?scope=admin", authorization: "Bearer bearer-scoped", want: http.StatusOK},
	}
	h.tokens.add("revoked", domain.AccessToken{ID: "jti-revoked", ClientID: "app", Scopes: []string{"orders:read"}, Revoked: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			r.Header.Set("X-Forwarded-Uri", "/api/orders")
			r.Header.Set("X-Forwarded-Method", http.MethodDelete)
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			rec := h.do(r)
			wantCode(t, rec, tt.want)
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate: got %q; want %q", got, tt.challenge)
			}
			for k, want := range tt.headers {
				if got, ok := rec.Header()[k]; !ok || got[0] != want {
					t.Errorf("%s: got %q; want %q", k, got, want)
				}
			}
			if tt.want != http.StatusOK {
				if _, ok := rec.Header()[headerUserID]; ok {
					t.Errorf("%s: set on a %d", headerUserID, tt.want)
				}
			}
			if rec.Body.Len() != 0 {
				t.Errorf("body: got %q; want none", rec.Body.String())
			}
		})
	}
	if lines := h.logLines(); len(lines) != 0 {
		t.Errorf("log: got %q; want nothing for 401 and 403", lines)
	}
}

// TestVerifyMethods: nginx and Envoy send the original request's method.
func TestVerifyMethods(t *testing.T) {
	h := apiHarness(t)
	for _, m := range verifyMethods {
		r := httptest.NewRequest(m, "/auth/verify", nil)
		r.Header.Set("Authorization", "Bearer "+bearerUser)
		if rec := h.do(r); rec.Code != http.StatusOK {
			t.Errorf("%s: got %v; want 200", m, rec.Code)
		}
	}
}

func TestVerifyValidationFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
		logs int
	}{
		{name: "unexpected", err: errBoom, want: http.StatusInternalServerError, logs: 1},
		{name: "cancelled", err: context.Canceled, want: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := apiHarness(t)
			h.tokens.err = tt.err
			r := httptest.NewRequest(http.MethodGet, "/auth/verify", nil)
			r.Header.Set("Authorization", "Bearer "+bearerUser)
			wantCode(t, h.do(r), tt.want)
			if got := len(h.logLines()); got != tt.logs {
				t.Errorf("log lines: got %d; want %d", got, tt.logs)
			}
		})
	}
}

// staticValidator validates every token as t, without locking, so the
// benchmark measures the handler.
type staticValidator struct{ t domain.AccessToken }

func (v staticValidator) ValidateAccessToken(context.Context, string) (domain.AccessToken, domain.Claims, error) {
	return v.t, domain.Claims{}, nil
}

// discardWriter is a ResponseWriter that keeps only its headers, reused
// across requests.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkVerify measures GET /auth/verify's own overhead (routing,
// header parsing, the scope check, the answer's headers) around a
// validator that costs nothing.
func BenchmarkVerify(b *testing.B) {
	tokens := staticValidator{domain.AccessToken{
		ID: "jti", ClientID: "app", UserID: "user-1", Scopes: []string{"orders:read", "orders:write"},
	}}
	h, err := New(Deps{
		Service: &fakeService{scopes: mustScopes(b)}, Keys: fakeKeys{}, Web: &fakeWeb{},
		Users: newFakeUsers(), API: newFakeAPI(newFakeTokens()), Validator: tokens,
	}, Options{Issuer: testIssuer, SessionKey: testSessionKey})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest(http.MethodGet, "/auth/verify?scopes=orders:read&scope=admin,orders:write", nil)
		r.Header.Set("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.payload.signature")
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, r)
			if w.code != http.StatusOK {
				b.Errorf("status %d; want 200", w.code)
				return
			}
		}
	})
}
