package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

// authorizeQuery is the authorization request the tests send.
const authorizeQuery = "response_type=code&client_id=client-1&redirect_uri=https%3A%2F%2Fprinter.example%2Fcb" +
	"&scope=photos.read+profile&state=xyz&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"

// authorizeReq is authorizeQuery as the service should receive it.
var authorizeReq = domain.AuthorizeRequest{
	ResponseType: "code", ClientID: "client-1", RedirectURI: "https://printer.example/cb", Scope: "photos.read profile",
	State: "xyz", CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256",
}

const (
	approveLoc = "https://printer.example/cb?code=c0de&iss=https%3A%2F%2Fauth.example.com&state=xyz"
	denyLoc    = "https://printer.example/cb?error=access_denied&iss=https%3A%2F%2Fauth.example.com&state=xyz"
)

// authorizeWeb is a fakeWeb whose client asks for approval.
func authorizeWeb() *fakeWeb {
	return &fakeWeb{
		prompt: domain.AuthorizePrompt{
			Client:      domain.Client{ID: "client-1", Name: "Photo Printer"},
			RedirectURI: "https://printer.example/cb",
			Scopes:      []domain.Scope{{ID: "photos.read", Description: "Read your photos"}, {ID: "profile"}},
		},
		approveLoc: approveLoc,
		denyLoc:    denyLoc,
	}
}

// approvalScreen logs in and returns the approval screen of authorizeQuery.
func approvalScreen(t *testing.T, h harness) (*browser, page) {
	t.Helper()
	b := loggedIn(t, h)
	p := b.get(pathAuthorize + "?" + authorizeQuery)
	wantStatus(t, p, http.StatusOK)
	return b, p
}

func TestAuthorizeLogsInAndComesBack(t *testing.T) {
	h := webHarness(t, authorizeWeb(), Options{})
	b := newBrowser(t, h.handler)

	p := b.get(pathAuthorize + "?" + authorizeQuery)
	wantStatus(t, p, http.StatusFound)
	loc, err := url.Parse(p.location())
	if err != nil || loc.Path != pathLogin {
		t.Fatalf("Location: got %q; want the login page", p.location())
	}
	next := loc.Query().Get("next")
	back, err := url.Parse(next)
	if err != nil || back.Path != pathAuthorize {
		t.Fatalf("next: got %q; want %s", next, pathAuthorize)
	}
	want, _ := url.ParseQuery(authorizeQuery)
	if diff := cmp.Diff(want, back.Query()); diff != "" {
		t.Errorf("next query (-want +got):\n%s", diff)
	}
	if got := h.web.authorizeAs[0]; got != nil {
		t.Errorf("Authorize user when logged out: got %+v; want nil", got)
	}

	p = b.login(b.follow(p))
	wantStatus(t, p, http.StatusSeeOther)
	if p.location() != next {
		t.Errorf("Location after login: got %q; want %q", p.location(), next)
	}
	p = b.follow(p)
	wantStatus(t, p, http.StatusOK)
	if got := h.web.authorizeAs[1]; got == nil || got.ID != testUser.ID {
		t.Errorf("Authorize user after login: got %+v; want %s", got, testUser.ID)
	}
	if diff := cmp.Diff(authorizeReq, h.web.authorizeReq[1]); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestApprovalScreen(t *testing.T) {
	web := authorizeWeb()
	web.prompt.Client.Name = "Photo <script>Printer</script>"
	h := webHarness(t, web, Options{})
	_, p := approvalScreen(t, h)

	for _, want := range []string{"Photo &lt;script&gt;Printer&lt;/script&gt;", "<li>Read your photos</li>", "<li>profile</li>", "https://printer.example"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("approval screen: want %q in:\n%s", want, p.body)
		}
	}
	if strings.Contains(p.body, "<script>") {
		t.Errorf("approval screen: the client name is not escaped:\n%s", p.body)
	}
	for name, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Frame-Options":        "DENY",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	} {
		if got := p.header.Get(name); got != want {
			t.Errorf("%s: got %q; want %q", name, got, want)
		}
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy: got %q; want no framing and nothing loaded", csp)
	}

	approve, deny := mustForm(t, p, pathAuthorize, ""), mustForm(t, p, pathAuthorize, "DELETE")
	want, _ := url.ParseQuery(authorizeQuery)
	for _, f := range []htmlForm{approve, deny} {
		got := url.Values{}
		for k, v := range f.fields {
			switch k {
			case "_token", "auth_token":
				if v[0] == "" {
					t.Errorf("form field %s is empty", k)
				}
			case "_method":
			default:
				got[k] = v
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("form %v: request fields (-want +got):\n%s", f.fields.Get("_method"), diff)
		}
	}
}

func TestAuthorizeApprove(t *testing.T) {
	h := webHarness(t, authorizeWeb(), Options{})
	b, p := approvalScreen(t, h)
	form := mustForm(t, p, pathAuthorize, "")
	p = b.submit(form, nil)

	wantStatus(t, p, http.StatusSeeOther)
	if p.location() != approveLoc {
		t.Errorf("Location: got %q; want %q", p.location(), approveLoc)
	}
	if len(h.web.approved) != 1 || len(h.web.denied) != 0 {
		t.Fatalf("approved %v, denied %v; want one approval", h.web.approved, h.web.denied)
	}
	// The screen's auth_token goes along as the key that makes the
	// approval single-use.
	want := authorizeReq
	want.ApprovalKey = form.fields.Get("auth_token")
	if diff := cmp.Diff(want, h.web.approved[0]); diff != "" || want.ApprovalKey == "" {
		t.Errorf("approved request (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{testUser.ID}, h.web.decidedBy); diff != "" {
		t.Errorf("decided by (-want +got):\n%s", diff)
	}
}

// TestAuthorizeDeny covers both ways to deny: the form's _method=DELETE
// override, and a real DELETE.
func TestAuthorizeDeny(t *testing.T) {
	for _, method := range []string{"override", http.MethodDelete} {
		t.Run(method, func(t *testing.T) {
			h := webHarness(t, authorizeWeb(), Options{})
			b, p := approvalScreen(t, h)
			f := mustForm(t, p, pathAuthorize, "DELETE")
			if method == http.MethodDelete {
				f.fields.Del("_method")
				p = b.do(http.MethodDelete, f.action, f.fields)
			} else {
				p = b.submit(f, nil)
			}
			wantStatus(t, p, http.StatusSeeOther)
			if p.location() != denyLoc {
				t.Errorf("Location: got %q; want %q", p.location(), denyLoc)
			}
			if len(h.web.denied) != 1 || len(h.web.approved) != 0 {
				t.Fatalf("approved %v, denied %v; want one denial", h.web.approved, h.web.denied)
			}
			if diff := cmp.Diff(authorizeReq, h.web.denied[0]); diff != "" {
				t.Errorf("denied request (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAuthorizeDecisionRefused: a decision needs the session, its CSRF
// token and the screen token of the very request shown.
func TestAuthorizeDecisionRefused(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(t *testing.T, h harness, f htmlForm) *browser // nil: the screen's browser
		status int
	}{
		{name: "no _token", edit: del("_token"), status: http.StatusForbidden},
		{name: "wrong _token", edit: set("_token", "forged"), status: http.StatusForbidden},
		{name: "no auth_token", edit: del("auth_token"), status: http.StatusForbidden},
		{name: "wrong auth_token", edit: set("auth_token", "forged"), status: http.StatusForbidden},
		{name: "scope widened", edit: set("scope", "photos.read photos.write profile"), status: http.StatusForbidden},
		{name: "redirect_uri changed", edit: set("redirect_uri", "https://evil.example/cb"), status: http.StatusForbidden},
		{name: "prompt added", edit: set("prompt", "consent"), status: http.StatusForbidden},
		{name: "logged out", status: http.StatusForbidden, edit: func(t *testing.T, h harness, _ htmlForm) *browser {
			return newBrowser(t, h.handler)
		}},
		{name: "another session's screen", status: http.StatusForbidden, edit: func(t *testing.T, h harness, f htmlForm) *browser {
			// The same user in another browser: its own CSRF token, the first screen's auth_token.
			other, p := approvalScreen(t, h)
			f.fields.Set("_token", mustForm(t, p, pathAuthorize, "").fields.Get("_token"))
			return other
		}},
		{name: "unknown _method", edit: set("_method", "PUT"), status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := webHarness(t, authorizeWeb(), Options{})
			b, p := approvalScreen(t, h)
			f := mustForm(t, p, pathAuthorize, "")
			if other := tt.edit(t, h, f); other != nil {
				b = other
			}
			p = b.submit(f, nil)
			wantStatus(t, p, tt.status)
			if p.location() != "" {
				t.Errorf("Location: got %q; want none", p.location())
			}
			if len(h.web.approved)+len(h.web.denied) != 0 {
				t.Errorf("decisions: approved %v, denied %v; want none", h.web.approved, h.web.denied)
			}
		})
	}
}

func del(name string) func(*testing.T, harness, htmlForm) *browser {
	return func(_ *testing.T, _ harness, f htmlForm) *browser { f.fields.Del(name); return nil }
}

func set(name, value string) func(*testing.T, harness, htmlForm) *browser {
	return func(_ *testing.T, _ harness, f htmlForm) *browser { f.fields.Set(name, value); return nil }
}

// TestAuthorizeRedirectError: an error the service says may go to the
// client is a redirect to it, logged in or not, with iss (RFC 9207).
func TestAuthorizeRedirectError(t *testing.T) {
	re := &domain.RedirectError{Err: domain.ErrInvalidScope.WithDescription(`the scope "x" is unknown`), URL: "https://printer.example/cb", State: "xyz"}
	want := re.Location(testIssuer)
	if !strings.Contains(want, "iss=https%3A%2F%2Fauth.example.com") {
		t.Fatalf("Location %q: want iss", want)
	}
	for _, login := range []bool{false, true} {
		web := authorizeWeb()
		web.authorizeErr = re
		h := webHarness(t, web, Options{})
		b := newBrowser(t, h.handler)
		if login {
			b = loggedIn(t, h)
		}
		p := b.get(pathAuthorize + "?" + authorizeQuery)
		wantStatus(t, p, http.StatusFound)
		if p.location() != want {
			t.Errorf("logged in %v: Location: got %q; want %q", login, p.location(), want)
		}
	}
}

// TestAuthorizeErrorPage: any other error is a page, never a redirect.
func TestAuthorizeErrorPage(t *testing.T) {
	tests := []struct {
		name     string
		query    string
		err      error
		status   int
		show     string
		wantLogs int
	}{
		{name: "unknown client", err: domain.ErrInvalidClient.WithDescription("the client is unknown"),
			status: http.StatusBadRequest, show: "the client is unknown"},
		{name: "redirect mismatch", err: domain.ErrInvalidRequest.WithDescription("the redirect_uri does not match one registered for the client"),
			status: http.StatusBadRequest, show: "the redirect_uri does not match"},
		{name: "duplicate parameter", query: "client_id=a&client_id=b&response_type=code",
			status: http.StatusBadRequest, show: "given more than once"},
		{name: "unexpected", err: errors.New("pebble: closed"),
			status: http.StatusInternalServerError, show: "Something went wrong", wantLogs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			web := authorizeWeb()
			web.authorizeErr = tt.err
			h := webHarness(t, web, Options{})
			query := tt.query
			if query == "" {
				query = authorizeQuery
			}
			p := loggedIn(t, h).get(pathAuthorize + "?" + query)

			wantStatus(t, p, tt.status)
			if p.location() != "" {
				t.Errorf("Location: got %q; want none", p.location())
			}
			if got := p.header.Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type: got %q; want HTML", got)
			}
			if !strings.Contains(p.body, tt.show) {
				t.Errorf("page: want %q in:\n%s", tt.show, p.body)
			}
			if strings.Contains(p.body, "pebble") {
				t.Errorf("page leaks the internal error:\n%s", p.body)
			}
			if got := len(h.logLines()); got != tt.wantLogs {
				t.Errorf("log records: got %v; want %v", got, tt.wantLogs)
			}
			if tt.query != "" && len(web.authorizeReq) != 0 {
				t.Errorf("Authorize calls: got %v; want none for a malformed request", len(web.authorizeReq))
			}
		})
	}
}

// TestAuthorizeSkip: a request that may skip approval is approved at once.
func TestAuthorizeSkip(t *testing.T) {
	web := authorizeWeb()
	web.prompt.Skip = true
	h := webHarness(t, web, Options{})
	p := loggedIn(t, h).get(pathAuthorize + "?" + authorizeQuery)

	wantStatus(t, p, http.StatusFound)
	if p.location() != approveLoc {
		t.Errorf("Location: got %q; want %q", p.location(), approveLoc)
	}
	if diff := cmp.Diff([]domain.AuthorizeRequest{authorizeReq}, web.approved); diff != "" {
		t.Errorf("approved (-want +got):\n%s", diff)
	}
}

// TestAuthorizeDecisionErrors: a decision the service refuses goes to
// the client when it may, else is a page.
func TestAuthorizeDecisionErrors(t *testing.T) {
	re := &domain.RedirectError{Err: domain.ErrInvalidScope, URL: "https://printer.example/cb", State: "xyz"}
	tests := []struct {
		name     string
		err      error
		status   int
		location string
	}{
		{name: "redirect error", err: re, status: http.StatusSeeOther, location: re.Location(testIssuer)},
		{name: "client gone", err: domain.ErrInvalidClient.WithDescription("the client is unknown"), status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			web := authorizeWeb()
			h := webHarness(t, web, Options{})
			b, p := approvalScreen(t, h)
			web.decideErr = tt.err
			p = b.submit(mustForm(t, p, pathAuthorize, ""), nil)
			wantStatus(t, p, tt.status)
			if p.location() != tt.location {
				t.Errorf("Location: got %q; want %q", p.location(), tt.location)
			}
		})
	}
}

// TestPromptLogin: prompt=login ends the session and forces a login, once.
func TestPromptLogin(t *testing.T) {
	h := webHarness(t, authorizeWeb(), Options{})
	b := loggedIn(t, h)

	p := b.get(pathAuthorize + "?" + authorizeQuery + "&prompt=login")
	wantStatus(t, p, http.StatusFound)
	if c := sessionCookieOf(p); c == nil || c.MaxAge >= 0 {
		t.Errorf("cookie: got %v; want the session ended", c)
	}
	loc, _ := url.Parse(p.location())
	next := loc.Query().Get("next")
	back, _ := url.Parse(next)
	if loc.Path != pathLogin || back.Path != pathAuthorize || back.Query().Has("prompt") {
		t.Fatalf("Location: got %q; want the login page, then back without prompt", p.location())
	}

	p = b.follow(p)
	wantStatus(t, p, http.StatusOK) // the login form: the session is gone
	p = b.login(p)
	wantStatus(t, p, http.StatusSeeOther)
	if p.location() != next {
		t.Errorf("Location after login: got %q; want %q", p.location(), next)
	}
	wantStatus(t, b.follow(p), http.StatusOK) // the approval screen, no second forced login
	if got := h.web.authorizeReq[len(h.web.authorizeReq)-1]; got != authorizeReq {
		t.Errorf("last request: got %+v; want %+v", got, authorizeReq)
	}
}

func TestPromptLoginLoggedOut(t *testing.T) {
	h := webHarness(t, authorizeWeb(), Options{})
	p := newBrowser(t, h.handler).get(pathAuthorize + "?" + authorizeQuery + "&prompt=login")
	wantStatus(t, p, http.StatusFound)
	loc, _ := url.Parse(p.location())
	if back, _ := url.Parse(loc.Query().Get("next")); back.Query().Has("prompt") || back.Query().Get("client_id") != "client-1" {
		t.Errorf("next: got %q; want the request without prompt", back)
	}
}
