package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
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
		{name: "audience held", target: "/auth/verify?audience=https%3A%2F%2Forders.example&scopes=orders:read", authorization: "Bearer bearer-aud", want: http.StatusOK},
		{name: "audience held, unescaped", target: "/auth/verify?audience=https://billing.example", authorization: "Bearer bearer-aud", want: http.StatusOK},
		{name: "audience of another API", target: "/auth/verify?audience=https://admin.example", authorization: "Bearer bearer-aud",
			want: http.StatusUnauthorized, challenge: challengeWrongAudience},
		{name: "audience is the client id when none was requested", target: "/auth/verify?audience=https://orders.example", authorization: "Bearer bearer-scoped",
			want: http.StatusUnauthorized, challenge: challengeWrongAudience},
		{name: "audience before scopes", target: "/auth/verify?scopes=admin&audience=https://admin.example", authorization: "Bearer bearer-aud",
			want: http.StatusUnauthorized, challenge: challengeWrongAudience},
		{name: "audience met, scope not", target: "/auth/verify?scopes=admin&audience=https://orders.example", authorization: "Bearer bearer-aud",
			want: http.StatusForbidden, challenge: `Bearer error="insufficient_scope", scope="admin"`},
		{name: "empty pairs skipped", target: "/auth/verify?&scopes=orders:read&&", authorization: "Bearer bearer-scoped", want: http.StatusOK},
	}
	h.tokens.add("bearer-aud", domain.AccessToken{
		ID: "jti-aud", ClientID: "app", UserID: testUser.ID, Scopes: []string{"orders:read"},
		Audience: []string{"https://orders.example", "https://billing.example"},
	})
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

// TestVerifyExactPath: only /auth/verify itself checks a token; a path
// that resembles it is 404 for every method, never a redirect and never a
// check that ignores the query (issue 8, finding 7).
func TestVerifyExactPath(t *testing.T) {
	h := apiHarness(t)
	paths := []string{
		"/auth/verify/", "//auth/verify", "/auth//verify", "/auth/verify//", "/auth/./verify", "/auth/verify/.",
		"/auth/verify/x/..", "/auth/x/../verify", "/auth/verify/api/orders", "/AUTH/VERIFY", "/Auth/Verify/",
		"/auth/%76erify", "/auth%2Fverify", "/auth/verify%2F",
	}
	for _, m := range verifyMethods {
		for _, p := range paths {
			r := httptest.NewRequest(m, p+"?scopes=admin", nil) // parsed as a server parses it: nothing cleaned
			r.Header.Set("Authorization", "Bearer "+bearerUser)
			rec := h.do(r)
			if rec.Code != http.StatusNotFound {
				t.Errorf("%s %s: got %d (Location %q); want 404", m, p, rec.Code, rec.Header().Get("Location"))
			}
		}
	}
	if got := h.tokens.calls; got != 0 {
		t.Errorf("validations: got %d; want none", got)
	}
}

// TestVerifyQueryRefused: a query /auth/verify does not fully understand
// is 400 before any token is looked at, so a typo in a proxy's
// configuration fails closed.
func TestVerifyQueryRefused(t *testing.T) {
	h := apiHarness(t)
	tests := []struct{ query, want string }{
		{"Scopes=admin", `unknown query parameter \"Scopes\"`},
		{"SCOPE=admin", `unknown query parameter \"SCOPE\"`},
		{"scopess=admin", `unknown query parameter \"scopess\"`},
		{"scop%65s=admin", `unknown query parameter \"scop%65s\"`},
		{"scopes%5B%5D=admin", `unknown query parameter`},
		{"scopes=read&client=x", `unknown query parameter \"client\"`},
		{"=admin", `unknown query parameter \"\"`},
		{"aud=https://api.example", `unknown query parameter \"aud\"`},
		{"scopes=read&scopes=admin", "the query parameter scopes is given twice"},
		{"scope=read&scope=admin", "the query parameter scope is given twice"},
		{"audience=https://a.example&audience=https://b.example", "the query parameter audience is given twice"},
		{"scopes", "the query parameter scopes has no value"},
		{"scopes=%zz", "the value of scopes is not URL-encoded correctly"},
		{"audience=", "the audience parameter is empty"},
		{"audience=+", "the audience parameter is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/auth/verify?"+tt.query, nil)
			r.Header.Set("Authorization", "Bearer "+bearerUser)
			rec := h.do(r)
			wantCode(t, rec, http.StatusBadRequest)
			body := rec.Body.String()
			if !strings.Contains(body, `"error":"invalid_request"`) || !strings.Contains(body, tt.want) || !strings.Contains(body, "the known parameters are scopes") {
				t.Errorf("body: got %s; want invalid_request with %q and the known parameters", body, tt.want)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control: got %q; want no-store", rec.Header().Get("Cache-Control"))
			}
		})
	}
	// Without a token too: the query is checked first.
	if rec := h.do(httptest.NewRequest(http.MethodGet, "/auth/verify?scopez=a", nil)); rec.Code != http.StatusBadRequest {
		t.Errorf("no token, bad query: got %d; want 400", rec.Code)
	}
	if got := h.tokens.calls; got != 0 {
		t.Errorf("validations: got %d; want none", got)
	}
}

// TestVerifyMethods: nginx sends the original request's method.
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
		name  string
		err   error
		want  int
		logs  int
		retry string
	}{
		{name: "unexpected", err: errBoom, want: http.StatusInternalServerError, logs: 1},
		{name: "cancelled", err: context.Canceled, want: http.StatusServiceUnavailable},
		{name: "not caught up with the log", err: &domain.RetryError{
			Err: domain.ErrTemporarilyUnavailable.WithDescription("catching up"), After: domain.FreshnessRetry,
		}, want: http.StatusServiceUnavailable, retry: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := apiHarness(t)
			h.tokens.err = tt.err
			r := httptest.NewRequest(http.MethodGet, "/auth/verify", nil)
			r.Header.Set("Authorization", "Bearer "+bearerUser)
			rec := h.do(r)
			wantCode(t, rec, tt.want)
			if got := rec.Header().Get("Retry-After"); got != tt.retry {
				t.Errorf("Retry-After: got %q; want %q", got, tt.retry)
			}
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
