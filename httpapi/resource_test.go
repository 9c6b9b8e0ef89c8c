package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// TestTokenResourceParameter: RFC 8707 §2 lets resource repeat; the token
// endpoint hands the service every value, joined with spaces, while any
// other repeated parameter stays invalid_request. invalid_target is 400.
func TestTokenResourceParameter(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"one", "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example", "https://api.example"},
		{"repeated", "grant_type=client_credentials&resource=https%3A%2F%2Fa.example&resource=urn%3Ax%3Ay", "https://a.example urn:x:y"},
		{"empty", "grant_type=client_credentials&resource=", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			h := newHarness(t, svc, nil, Options{})
			r := formPost(pathToken, tt.body)
			r.SetBasicAuth("app", "secret")
			wantCode(t, h.do(r), http.StatusOK)
			if got := svc.tokenReq.Form["resource"]; got != tt.want {
				t.Errorf("resource: got %q; want %q", got, tt.want)
			}
		})
	}

	svc := &fakeService{}
	h := newHarness(t, svc, nil, Options{})
	r := formPost(pathToken, "grant_type=client_credentials&scope=a&scope=b")
	r.SetBasicAuth("app", "secret")
	if rec := h.do(r); rec.Code != http.StatusBadRequest || svc.calls != 0 {
		t.Errorf("repeated scope: got %d with %d service calls; want 400 and none", rec.Code, svc.calls)
	}

	svc = &fakeService{err: domain.ErrInvalidTarget.WithDescription(`the resource "x" is not registered for the client`)}
	h = newHarness(t, svc, nil, Options{})
	r = formPost(pathToken, "grant_type=client_credentials&resource=x")
	r.SetBasicAuth("app", "secret")
	rec := h.do(r)
	wantCode(t, rec, http.StatusBadRequest)
	if body := decodeJSON[errorBody](t, rec); body.Error != "invalid_target" {
		t.Errorf("body: got %+v; want invalid_target", body)
	}
}

// TestAuthorizeResourceParameter: the authorization request's resources
// reach the service, repeated ones joined.
func TestAuthorizeResourceParameter(t *testing.T) {
	web := authorizeWeb()
	h := webHarness(t, web, Options{})
	r := httptest.NewRequest(http.MethodGet, pathAuthorize+"?response_type=code&client_id=c1&resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example", nil)
	h.do(r)
	if len(web.authorizeReq) == 0 {
		t.Fatal("the service was not asked")
	}
	if got := web.authorizeReq[0].Resource; got != "https://a.example https://b.example" {
		t.Errorf("Resource: got %q; want both, space-separated", got)
	}
	if f := authorizeFields(web.authorizeReq[0]); f[len(f)-1] != (field{"resource", "https://a.example https://b.example"}) {
		t.Errorf("hidden fields: got %v; want resource last", f)
	}
}
