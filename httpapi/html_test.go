package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestStylesheetMatchesCSP: the inline stylesheet is exactly what the
// Content-Security-Policy hash allows, so browsers apply it.
func TestStylesheetMatchesCSP(t *testing.T) {
	h := webHarness(t, &fakeWeb{}, Options{})
	p := newBrowser(t, h.handler).get(pathLogin)
	m := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(p.body)
	if m == nil || len(m[1]) < 100 {
		t.Fatalf("login page: want an inline stylesheet:\n%s", p.body)
	}
	sum := sha256.Sum256([]byte(m[1]))
	want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
		t.Errorf("Content-Security-Policy: got %q; want it to contain %q", csp, want)
	}
}

// TestNoExternalAssets: pages load nothing from elsewhere and need no
// script.
func TestNoExternalAssets(t *testing.T) {
	entries, err := templateFS.ReadDir("templates")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := templateFS.ReadFile("templates/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"<script", "http://", "https://", "<link", "@import", "url("} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q", e.Name(), bad)
			}
		}
	}
}

// TestIssuerPathPrefixesLinks: with an issuer below a path, the pages
// link and redirect under that path.
func TestIssuerPathPrefixesLinks(t *testing.T) {
	h := webHarness(t, &fakeWeb{}, Options{Issuer: "https://example.com/auth/"})
	b := newBrowser(t, h.handler)

	p := b.get(pathDevice + "?user_code=ABCD-EFGH")
	wantStatus(t, p, http.StatusFound)
	loc, _ := url.Parse(p.location())
	if loc.Path != "/auth/login" || loc.Query().Get("next") != "/auth/oauth/device?user_code=ABCD-EFGH" {
		t.Errorf("Location: got %q; want /auth/login coming back to /auth/oauth/device", p.location())
	}
	p = b.get(pathLogin)
	f := mustForm(t, p, "/auth/login", "")
	f.action = pathLogin // the proxy strips /auth
	p = b.submit(f, url.Values{"email": {testUser.Email}, "password": {testPassword}})
	if p.location() != "/auth/" {
		t.Errorf("Location after login without next: got %q; want %q", p.location(), "/auth/")
	}
}

// TestPageErrors covers the HTML error mapping not reached elsewhere.
func TestPageErrors(t *testing.T) {
	h := webHarness(t, &fakeWeb{}, Options{MaxBodyBytes: 64})
	b := newBrowser(t, h.handler)
	f := mustForm(t, b.get(pathLogin), pathLogin, "")
	p := b.submit(f, url.Values{"email": {strings.Repeat("a", 100)}})
	wantStatus(t, p, http.StatusRequestEntityTooLarge)
	if got := p.header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("Content-Type: got %q; want HTML", got)
	}

	p = b.do(http.MethodPost, pathLogin, nil) // no form body at all
	wantStatus(t, p, http.StatusBadRequest)
	if got := len(h.logLines()); got != 0 {
		t.Errorf("log records: got %v; want none for client errors", got)
	}
}
