package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// fakeOrigins is an Origins over a fixed set of clients, or failing with
// err.
type fakeOrigins struct {
	clients map[string]domain.Client
	err     error
}

func (f fakeOrigins) WebOriginRegistered(_ context.Context, origin string) (bool, error) {
	if f.err != nil {
		return false, f.err
	}
	for _, c := range f.clients {
		if c.AllowsWebOrigin(origin) {
			return true, nil
		}
	}
	return false, nil
}

func (f fakeOrigins) Client(_ context.Context, id string) (domain.Client, error) {
	if f.err != nil {
		return domain.Client{}, f.err
	}
	c, ok := f.clients[id]
	if !ok {
		return domain.Client{}, domain.ErrNotFound
	}
	return c, nil
}

func preflightReq(path, origin, method string) *http.Request {
	r := httptest.NewRequest(http.MethodOptions, path, nil)
	r.Header.Set("Origin", origin)
	if method != "" {
		r.Header.Set("Access-Control-Request-Method", method)
	}
	return r
}

// TestPreflight: the preflight decisions of cors.go, including those an
// integration test cannot provoke: no Origins (nothing granted), a failing
// look-up (refused, never a 500), a preflight asking for another method,
// and a plain OPTIONS.
func TestPreflight(t *testing.T) {
	const app = "https://app.example"
	live := fakeOrigins{clients: map[string]domain.Client{"c1": {ID: "c1", WebOrigins: []string{app}}}}
	tests := []struct {
		name    string
		origins Origins
		req     *http.Request
		allow   string
	}{
		{"granted", live, preflightReq(pathToken, app, http.MethodPost), app},
		{"revoke granted", live, preflightReq(pathRevoke, app, http.MethodPost), app},
		{"another method", live, preflightReq(pathToken, app, http.MethodPut), ""},
		{"not a preflight", live, preflightReq(pathToken, app, ""), ""},
		{"no origins port", nil, preflightReq(pathToken, app, http.MethodPost), ""},
		{"look-up fails", fakeOrigins{err: errors.New("closed")}, preflightReq(pathToken, app, http.MethodPost), ""},
		{"jwks", nil, preflightReq(pathJWKS, "https://any.example", http.MethodGet), "*"},
		{"jwks, another method", nil, preflightReq(pathJWKS, "https://any.example", http.MethodPost), ""},
		{"introspection", live, preflightReq(pathIntrospect, app, http.MethodPost), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessWith(t, Deps{Origins: tt.origins}, Options{})
			rec := h.do(tt.req)
			if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != tt.allow {
				t.Errorf("got %d, Access-Control-Allow-Origin %q; want 204, %q", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"), tt.allow)
			}
			if !strings.Contains(rec.Header().Get("Allow"), http.MethodOptions) {
				t.Errorf("Allow: got %q; want the path's methods with OPTIONS", rec.Header().Get("Allow"))
			}
		})
	}
	if rec := newHarnessWith(t, Deps{Origins: live}, Options{}).do(preflightReq("/no/such/path", app, http.MethodPost)); rec.Code != http.StatusNotFound || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("OPTIONS of an unknown path: %d %v; want 404 without CORS", rec.Code, rec.Header())
	}
}
