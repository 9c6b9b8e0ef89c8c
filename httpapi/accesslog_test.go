package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// accessHarness is a harness whose access log is captured in the
// returned buffer.
func accessHarness(t *testing.T, svc *fakeService, opts Options) (harness, *bytes.Buffer) {
	t.Helper()
	logs := &bytes.Buffer{}
	opts.AccessLog = slog.New(slog.NewJSONHandler(logs, nil))
	return newHarness(t, svc, nil, opts), logs
}

// accessRecords decodes the access log's records.
func accessRecords(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// TestAccessLogNoSecrets: a token request carrying a client secret (in
// Basic), an authorization code, a code verifier, a
// refresh token and secrets in its query leaves one record with the
// route, status, bytes, client and request id, and none of them; the
// answer's tokens are not in it either.
func TestAccessLogNoSecrets(t *testing.T) {
	svc := &fakeService{tokenResp: domain.TokenResponse{
		AccessToken: "ACCESS-TOKEN-VALUE", TokenType: "Bearer", ExpiresIn: 3600, RefreshToken: "REFRESH-TOKEN-VALUE",
	}}
	h, logs := accessHarness(t, svc, Options{})
	secrets := []string{"CLIENT-SECRET-VALUE", "AUTH-CODE-VALUE", "VERIFIER-VALUE", "OLD-REFRESH-VALUE", "QUERY-SECRET-VALUE",
		"ACCESS-TOKEN-VALUE", "REFRESH-TOKEN-VALUE", "COOKIE-VALUE"}
	r := formPost(pathToken+"?client_secret=QUERY-SECRET-VALUE",
		"grant_type=authorization_code&code=AUTH-CODE-VALUE&code_verifier=VERIFIER-VALUE&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"+
			"&refresh_token=OLD-REFRESH-VALUE")
	r.SetBasicAuth("c1", "CLIENT-SECRET-VALUE")
	r.Header.Set("Cookie", "stamp_session=COOKIE-VALUE")
	r.RemoteAddr = "192.0.2.7:5555"
	rec := h.do(r)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "ACCESS-TOKEN-VALUE") {
		t.Fatalf("token request: got %d %s; want 200 with the token", rec.Code, rec.Body)
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the access log holds %s:\n%s", s, logs)
		}
	}
	recs := accessRecords(t, logs)
	if len(recs) != 1 {
		t.Fatalf("records: got %d; want 1:\n%s", len(recs), logs)
	}
	got := recs[0]
	id := rec.Header().Get(requestIDHeader)
	want := map[string]any{"msg": "http request", "method": "POST", "route": pathToken, "status": float64(200),
		"bytes": float64(rec.Body.Len()), "client": "192.0.2.7", "request_id": id}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %v; want %v", k, got[k], v)
		}
	}
	if id == "" {
		t.Error("no X-Request-Id on the answer")
	}
	if _, ok := got["duration"]; !ok {
		t.Error("no duration")
	}
	if len(h.logLines()) != 0 {
		t.Errorf("the error log got records: %v", h.logLines())
	}
}

// TestAccessLogRoutes: routes are logged by pattern, unknown paths by
// path (cut, without query), errors with their status; a trusted proxy
// names the client and may pass its request id, anyone else may not.
func TestAccessLogRoutes(t *testing.T) {
	h, logs := accessHarness(t, &fakeService{}, Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	long := "/" + strings.Repeat("x", 300)
	tests := []struct {
		method, target, route string
		status                int
		hdr                   map[string]string
		remote, client, reqID string
	}{
		{method: "DELETE", target: "/oauth/tokens/tok-1?secret=1", route: pathTokenByID, status: 401},
		{method: "DELETE", target: "/oauth/personal-access-tokens/oauth", route: pathPersonalTokenID, status: 401},
		{method: "GET", target: "/dashboard/dashboard", route: "/dashboard/:file", status: 404},
		{method: "GET", target: "/nope?code=x", route: "/nope", status: 404},
		{method: "GET", target: long, route: long[:maxLoggedPath] + "…", status: 404},
		{method: "GET", target: pathToken, route: pathToken, status: 405},
		{method: "GET", target: pathHealth, route: pathHealth, status: 200,
			hdr: map[string]string{"X-Forwarded-For": "198.51.100.9", requestIDHeader: "abc-123"}, remote: "10.1.2.3:1", client: "198.51.100.9", reqID: "abc-123"},
		{method: "GET", target: pathHealth, route: pathHealth, status: 200,
			hdr: map[string]string{"X-Forwarded-For": "198.51.100.9", requestIDHeader: "abc-123"}, remote: "192.0.2.1:1", client: "192.0.2.1"},
		{method: "GET", target: pathHealth, route: pathHealth, status: 200,
			hdr: map[string]string{requestIDHeader: "bad id\n"}, remote: "10.1.2.3:1", client: "10.1.2.3"},
	}
	for _, tt := range tests {
		logs.Reset()
		r := httptest.NewRequest(tt.method, tt.target, nil)
		for k, v := range tt.hdr {
			r.Header.Set(k, v)
		}
		if tt.remote != "" {
			r.RemoteAddr = tt.remote
		}
		rec := h.do(r)
		recs := accessRecords(t, logs)
		if len(recs) != 1 {
			t.Fatalf("%s %s: records: got %d; want 1", tt.method, tt.target, len(recs))
		}
		got := recs[0]
		if got["route"] != tt.route || got["status"] != float64(tt.status) || got["status"] != float64(rec.Code) {
			t.Errorf("%s %s: got route %v status %v (answered %d); want %v %v", tt.method, tt.target, got["route"], got["status"], rec.Code, tt.route, tt.status)
		}
		if tt.client != "" && got["client"] != tt.client {
			t.Errorf("%s %s: client: got %v; want %v", tt.method, tt.target, got["client"], tt.client)
		}
		id, _ := got["request_id"].(string)
		switch {
		case tt.reqID != "" && id != tt.reqID:
			t.Errorf("%s %s: request id: got %q; want the proxy's %q", tt.method, tt.target, id, tt.reqID)
		case tt.reqID == "" && (len(id) != 16 || id == tt.hdr[requestIDHeader]):
			t.Errorf("%s %s: request id: got %q; want a generated one", tt.method, tt.target, id)
		}
		if strings.Contains(logs.String(), "secret") || strings.Contains(logs.String(), "code=") {
			t.Errorf("%s %s: a query reached the log: %s", tt.method, tt.target, logs)
		}
	}
}

// TestAccessLogOff: without a logger, no records and no request id.
func TestAccessLogOff(t *testing.T) {
	h := newHarness(t, &fakeService{}, nil, Options{})
	rec := h.do(httptest.NewRequest(http.MethodGet, pathHealth, nil))
	if rec.Header().Get(requestIDHeader) != "" || len(h.logLines()) != 0 {
		t.Errorf("access log off: got request id %q and records %v", rec.Header().Get(requestIDHeader), h.logLines())
	}
}

func TestRouteOfParameters(t *testing.T) {
	r := httprouter.New()
	noop := func(http.ResponseWriter, *http.Request, httprouter.Params) {}
	r.GET("/a/:x/:y", noop)
	r.GET("/c/:x", noop)
	for path, want := range map[string]string{"/a/a/a": "/a/:x/:y", "/a/1/2": "/a/:x/:y", "/c/c": "/c/:x", "/a/q": "/a/q"} {
		if got := routeOf(r, httptest.NewRequest(http.MethodGet, path, nil)); got != want {
			t.Errorf("%s: got %q; want %q", path, got, want)
		}
	}
}

// BenchmarkAccessLog measures what the access log adds to a request
// (JSON records to io.Discard): compare the "on" and "off" figures.
func BenchmarkAccessLog(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		opts := Options{Issuer: testIssuer, SessionKey: testSessionKey}
		if on {
			name = "on"
			opts.AccessLog = slog.New(slog.NewJSONHandler(io.Discard, nil))
		}
		b.Run(name, func(b *testing.B) {
			tokens := newFakeTokens()
			h, err := New(Deps{Service: &fakeService{scopes: mustScopes(b)}, Keys: fakeKeys{}, Web: &fakeWeb{},
				Users: newFakeUsers(), API: newFakeAPI(tokens), Validator: tokens}, opts)
			if err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodDelete, "/oauth/tokens/tok-1", nil)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
