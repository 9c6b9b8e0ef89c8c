package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// browserAccept is what a browser sends when it navigates.
const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

func TestWantsHTML(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{browserAccept, true},
		{"text/html", true},
		{"", false},
		{"*/*", false},
		{"application/json", false},
		{"application/json, text/html;q=0.5", false},
		{"text/html;q=0.5, application/json;q=0.5", true},
		{"text/html;q=0", false},
		{"text/html;q=0.4, */*;q=0.8", false},
		{"not a type;;", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tt.accept != "" {
			r.Header.Set("Accept", tt.accept)
		}
		if got := wantsHTML(r); got != tt.want {
			t.Errorf("Accept %q: got %v; want %v", tt.accept, got, tt.want)
		}
	}
}

// TestUnknownPathPages: a browser gets an HTML 404 (and 405) with a way
// back to the dashboard and the login; an API client gets JSON.
func TestUnknownPathPages(t *testing.T) {
	h := newHarness(t, &fakeService{}, nil, Options{Issuer: "https://auth.example.com/auth"})
	tests := []struct {
		name, method, path, accept string
		status                     int
		html                       bool
		want                       []string
	}{
		{"browser 404", http.MethodGet, "/no/such/page", browserAccept, 404, true,
			[]string{"Page not found", `href="/auth/"`, `href="/auth/login"`, "<code>not_found</code>"}},
		{"api 404", http.MethodGet, "/no/such/page", "application/json", 404, false, []string{`"error":"not_found"`}},
		{"curl 404", http.MethodGet, "/no/such/page", "", 404, false, []string{`"error":"not_found"`}},
		{"browser 405", http.MethodGet, pathToken, browserAccept, 405, true,
			[]string{"cannot be used this way", `href="/auth/"`, "<code>method_not_allowed</code>"}},
		{"api 405", http.MethodGet, pathToken, "*/*", 405, false, []string{`"error":"method_not_allowed"`}},
		{"browser verify look-alike", http.MethodGet, pathVerify + "/", browserAccept, 404, true, []string{"Page not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.accept != "" {
				r.Header.Set("Accept", tt.accept)
			}
			rec := h.do(r)
			if rec.Code != tt.status {
				t.Fatalf("status: got %d; want %d", rec.Code, tt.status)
			}
			ct := rec.Header().Get("Content-Type")
			if tt.html != strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type: got %q; want HTML %v", ct, tt.html)
			}
			if tt.html && rec.Header().Get("Content-Security-Policy") == "" {
				t.Error("an HTML page without Content-Security-Policy")
			}
			if tt.status == 405 && rec.Header().Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			for _, w := range tt.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("body: want %q in:\n%s", w, rec.Body.String())
				}
			}
		})
	}
}

// TestAuthorizeErrorTexts: the authorization errors a person meets are
// explained in sentence case, with the RFC code beneath and a way back,
// and never redirect.
func TestAuthorizeErrorTexts(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want []string
	}{
		{"invalid client", domain.ErrInvalidClient.WithDescription("the client is unknown"),
			[]string{"This application is not recognised", "Go back to the application", "<code>invalid_client</code>", "the client is unknown"}},
		{"bad redirect", domain.ErrInvalidRequest.WithDescription("the redirect_uri does not match one registered for the client"),
			[]string{"This sign-in link cannot be used", "cannot send you back to it safely", "<code>invalid_request</code>", "the redirect_uri does not match"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			web := authorizeWeb()
			web.authorizeErr = tt.err
			h := webHarness(t, web, Options{})
			p := loggedIn(t, h).get(pathAuthorize + "?" + authorizeQuery)
			wantStatus(t, p, http.StatusBadRequest)
			if p.location() != "" {
				t.Errorf("Location: got %q; want none", p.location())
			}
			for _, w := range append(tt.want, `href="/"`) {
				if !strings.Contains(p.body, w) {
					t.Errorf("page: want %q in:\n%s", w, p.body)
				}
			}
			if strings.Contains(p.body, `href="/login"`) {
				t.Errorf("a logged-in user is offered the login:\n%s", p.body)
			}
		})
	}
}

// TestEveryPersonTextIsSentenceCase keeps the texts written for people.
func TestEveryPersonTextIsSentenceCase(t *testing.T) {
	for code, pt := range personTexts {
		for _, s := range []string{pt.heading, pt.message} {
			if s == "" || strings.ToUpper(s[:1]) != s[:1] {
				t.Errorf("%s: %q does not start with a capital", code, s)
			}
		}
		if !strings.HasSuffix(pt.message, ".") {
			t.Errorf("%s: message %q is not a sentence", code, pt.message)
		}
	}
}
