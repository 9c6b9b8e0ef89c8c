package integration

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestCORSBrowser has headless Chromium make the cross-origin calls a
// single-page app makes: from a page of a client's registered origin the
// token and revocation endpoints answer its script (after a real
// preflight, which the Authorization header forces); from a page of
// another origin, with another client's credentials, or to introspection,
// the browser blocks the answer.
func TestCORSBrowser(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	page := func() *httptest.Server { // an app's page: its origin is the server's
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, "<!doctype html><title>app</title><p>app</p>")
		}))
		t.Cleanup(s.Close)
		return s
	}
	app, other := page(), page()
	id, secret := e.createClient(n, "spa", "--web-origin", app.URL)
	plainID, plainSecret := e.createClient(n, "no origins")

	ctx := startChromium(t)
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	// call has the current page POST body to path with Basic credentials
	// and returns "<status>" or "blocked" when the browser refused the
	// answer to the script.
	call := func(path, auth, body string) string {
		t.Helper()
		js := fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"Authorization": %q, "Content-Type": "application/x-www-form-urlencoded"}, body: %q})
			.then(r => String(r.status), () => "blocked")`, n.HTTPURL()+path, auth, body)
		step, cancel := context.WithTimeout(ctx, browserStepTimeout)
		defer cancel()
		got, err := chromedp.Run(step, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("fetch %s: %v", path, err)
		}
		return got
	}
	visit := func(u string) {
		t.Helper()
		step, cancel := context.WithTimeout(ctx, browserStepTimeout)
		defer cancel()
		if err := chromedp.Do(step, chromedp.Navigate(u)); err != nil {
			t.Fatalf("navigate %s: %v", u, err)
		}
	}
	cc := "grant_type=client_credentials"

	visit(app.URL)
	if got := call("/oauth/token", basic(id, secret), cc); got != "200" {
		t.Errorf("token from the client's origin: %s; want 200", got)
	}
	if got := call("/oauth/token", basic(id, "wrong"), cc); got != "401" {
		t.Errorf("token with a wrong secret from the client's origin: %s; want 401, readable", got)
	}
	if got := call("/oauth/revoke", basic(id, secret), "token=unknown"); got != "200" {
		t.Errorf("revoke from the client's origin: %s; want 200", got)
	}
	if got := call("/oauth/token", basic(plainID, plainSecret), cc); got != "blocked" {
		t.Errorf("token for a client without that origin: %s; want blocked", got)
	}
	if got := call("/oauth/introspect", basic(id, secret), "token=unknown"); got != "blocked" {
		t.Errorf("introspection from the client's origin: %s; want blocked", got)
	}
	step, cancel := context.WithTimeout(ctx, browserStepTimeout)
	defer cancel()
	jwks, err := chromedp.Run(step, chromedp.Evaluate[string](fmt.Sprintf(`fetch(%q).then(r => String(r.status), () => "blocked")`, n.HTTPURL()+"/.well-known/jwks.json"), chromedp.EvalAwaitPromise))
	if err != nil || jwks != "200" {
		t.Errorf("JWKS from a page: %s, %v; want 200", jwks, err)
	}

	visit(other.URL)
	if got := call("/oauth/token", basic(id, secret), cc); got != "blocked" {
		t.Errorf("token from an unregistered origin: %s; want blocked", got)
	}
}

// startChromium starts headless Chromium with a fresh profile for the
// rest of t and returns the context of its tab.
func startChromium(t *testing.T) context.Context {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	// The first Do starts the browser and ties it to its context, which
	// therefore has no timeout of its own: a timer cancels it instead.
	timer := time.AfterFunc(browserStartTimeout, cancel)
	err := chromedp.Do(ctx)
	if !timer.Stop() {
		err = fmt.Errorf("not started within %v: %w", browserStartTimeout, err)
	}
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}
