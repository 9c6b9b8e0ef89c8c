package httpapi

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestDashboardSendsGuestsToLogin(t *testing.T) {
	for _, tt := range []struct{ issuer, want string }{
		{testIssuer, "/login?next=%2F"},
		{"https://example.com/auth/", "/auth/login?next=%2Fauth%2F"},
	} {
		h := webHarness(t, &fakeWeb{}, Options{Issuer: tt.issuer})
		p := newBrowser(t, h.handler).get(pathDashboard)
		wantStatus(t, p, http.StatusFound)
		if p.location() != tt.want {
			t.Errorf("issuer %s: Location: got %q; want %q", tt.issuer, p.location(), tt.want)
		}
	}
}

// TestDashboardPage: a logged-in user gets the page under its own CSP,
// with a logout form carrying the session's CSRF token, and the assets
// it links to are served, cached for long.
func TestDashboardPage(t *testing.T) {
	h := webHarness(t, &fakeWeb{}, Options{})
	b := loggedIn(t, h)
	p := b.get(pathDashboard)
	wantStatus(t, p, http.StatusOK)
	for k, want := range map[string]string{
		"Content-Security-Policy": dashboardCSP,
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
	} {
		if got := p.header.Get(k); got != want {
			t.Errorf("%s: got %q; want %q", k, got, want)
		}
	}
	if !strings.Contains(p.body, testUser.Email) {
		t.Errorf("the page does not name the user %s", testUser.Email)
	}

	links := regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(p.body, -1)
	if len(links) != 2 {
		t.Fatalf("links: got %q; want the script and the stylesheet", links)
	}
	for _, m := range links {
		u, err := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
		if err != nil || u.Host != "" || !strings.HasPrefix(u.Path, pathDashboardAssets) || u.Query().Get("v") == "" {
			t.Fatalf("link %q: want a versioned asset under %s", m[1], pathDashboardAssets)
		}
		a := b.get(u.String())
		wantStatus(t, a, http.StatusOK)
		if got := a.header.Get("Cache-Control"); got != assetCacheControl {
			t.Errorf("%s: Cache-Control: got %q; want %q", u, got, assetCacheControl)
		}
		if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") && !strings.HasPrefix(ct, "text/css") {
			t.Errorf("%s: Content-Type: got %q; want JavaScript or CSS", u, ct)
		}
	}
	wantStatus(t, b.get(pathDashboardAssets+"index.html"), http.StatusNotFound)
	wantStatus(t, b.get(pathDashboardAssets+"nope.js"), http.StatusNotFound)

	// The header's logout button works as the pages' own does.
	out := b.submit(mustForm(t, p, pathLogout, ""), nil)
	wantStatus(t, out, http.StatusSeeOther)
	if out.location() != pathLogin {
		t.Errorf("logout: Location: got %q; want %q", out.location(), pathLogin)
	}
	wantStatus(t, b.get(pathDashboard), http.StatusFound)
}

// TestDashboardIssuerPath: behind a proxy that strips the issuer's path,
// the page links, posts and calls the API under that path.
func TestDashboardIssuerPath(t *testing.T) {
	h := webHarness(t, &fakeWeb{}, Options{Issuer: "https://example.com/auth/"})
	b := newBrowser(t, h.handler)
	f := mustForm(t, b.get(pathLogin), "/auth/login", "")
	f.action = pathLogin // the proxy strips /auth
	wantStatus(t, b.submit(f, url.Values{"email": {testUser.Email}, "password": {testPassword}}), http.StatusSeeOther)
	p := b.get(pathDashboard)
	wantStatus(t, p, http.StatusOK)
	for _, want := range []string{`data-base="/auth"`, `action="/auth/logout"`, `src="/auth/dashboard/app.js?v=`, `href="/auth/dashboard/app.css?v=`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("page: want %s in:\n%s", want, p.body)
		}
	}
}

// TestDashboardAssetsStayLocal: the dashboard loads nothing from
// elsewhere and never parses strings as HTML or code (its CSP requires
// Trusted Types; this keeps the source honest too).
func TestDashboardAssetsStayLocal(t *testing.T) {
	for file, banned := range map[string][]string{
		"app.js":     {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "http://", "https://"},
		"app.css":    {"@import", "url(", "http://", "https://"},
		"index.html": {"<script>", "style=", "<style", "onclick=", "onload=", "onerror="},
	} {
		b, err := dashboardFS.ReadFile("dashboard/" + file)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range banned {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q", file, bad)
			}
		}
	}
}
