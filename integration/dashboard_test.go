package integration

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// Bounds of the browser: its start, and each step of the test.
const (
	browserStartTimeout = 60 * time.Second
	browserStepTimeout  = 30 * time.Second
)

// TestDashboard drives the dashboard in headless Chromium as a user
// would: log in; create a client (a validation error shown next to its
// field, then the secret shown once); authorize that client and revoke
// it under authorized applications; rename the client; create a personal
// access token with a scope (the token shown once, and valid); revoke it
// (gone from the list, and no longer valid); delete the client at a
// phone's width. It saves a full-page screenshot after each step under
// $STAMP_ARTIFACTS, or integration/artifacts/.
func TestDashboard(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the dashboard test needs Chromium at %s (%v): install it, on Debian with "+
			"`apt-get install -y chromium` (.ci/run does this)", chromiumPath, err)
	}
	e := newEnv(t)
	n := e.start()
	code, out, errOut := e.run("install") // the personal access client, which cookie tokens and PATs need
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	for _, m := range installedRE.FindAllStringSubmatch(out, -1) {
		e.awaitClient(n, m[2])
	}
	const email, password = "grace@example.com", "a long enough password"
	e.createUser(n, email, password)
	checkerID, checkerSecret := e.createClient(n, "token checker")

	d := newDashboardBrowser(t, n)

	d.step("login-page",
		chromedp.Navigate(n.HTTPURL()+"/"),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	if loc := d.location(); !strings.Contains(loc, "/login?next=%2F") {
		t.Errorf("a guest at / landed on %s; want the login page coming back to /", loc)
	}

	d.step("dashboard",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#client-list[aria-busy="false"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#app-list[aria-busy="false"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#token-list[aria-busy="false"]`)),
	)
	d.wantText("#clients", "No clients yet.")
	d.wantText("#tokens", "No personal access tokens yet.")
	d.wantText(".top", email)

	d.step("client-invalid",
		chromedp.Click(chromedp.ID("client-new")),
		chromedp.WaitVisible(chromedp.ID("client-form")),
		chromedp.SendKeys(chromedp.ID("client-name"), "Acme CI"),
		chromedp.Click(chromedp.CSS(`#client-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("client-redirect-error")),
	)

	callback := n.HTTPURL() + "/callback" // answers 404, but the browser lands there with the code
	d.step("client-created",
		chromedp.SendKeys(chromedp.ID("client-redirect"), callback),
		chromedp.Click(chromedp.CSS(`#client-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("client-secret")),
		chromedp.WaitVisible(chromedp.CSS(`#client-list tr[data-id]`)),
	)
	clientID, secret := d.text(`#client-created [data-fill="id"]`), d.text("#client-secret")
	if len(secret) < 16 || secret == "(none)" {
		t.Errorf("client secret shown: %q; want the secret", secret)
	}
	d.wantText("#client-list", "Acme CI")
	d.wantText("#client-list", callback)

	// The new client is an application like any other: authorizing it
	// lists it under authorized applications, until revoked. The code
	// exchange proves the secret shown is the client's.
	conf := &oauth2.Config{ClientID: clientID, ClientSecret: secret, RedirectURL: callback, Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{AuthURL: n.HTTPURL() + "/oauth/authorize", TokenURL: n.HTTPURL() + "/oauth/token",
			AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	d.step("app-approval",
		chromedp.Navigate(conf.AuthCodeURL("dashboard", oauth2.S256ChallengeOption(verifier))),
		chromedp.WaitVisible(chromedp.CSS(`button.primary`)),
	)
	d.act("approve", chromedp.Click(chromedp.CSS(`button.primary`)))
	back := d.waitLocation(callback + "?")
	appToken, err := conf.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange the code with the client secret the dashboard showed: %v", err)
	}
	d.step("app-authorized",
		chromedp.Navigate(n.HTTPURL()+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#app-list tr[data-id]`)),
	)
	d.wantText("#app-list", "Acme CI")
	d.wantText("#app-list", "read")
	d.step("app-revoked",
		chromedp.Click(chromedp.CSS(`#app-list tr[data-id] button.danger`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#app-list tr[data-id]`)),
	)
	if in := introspect(t, n, checkerID, checkerSecret, appToken.AccessToken); in["active"] != false {
		t.Errorf("the revoked application's token: introspection %v; want inactive", in)
	}

	d.step("client-edited",
		chromedp.Click(chromedp.CSS(`#client-list tr[data-id] button:not(.danger)`)),
		chromedp.WaitVisible(chromedp.ID("client-form")),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("client-name").value = ""`),
		chromedp.SendKeys(chromedp.ID("client-name"), "Acme Deploy"),
		chromedp.Click(chromedp.CSS(`#client-form button[type="submit"]`)),
		chromedp.WaitNotVisible(chromedp.ID("client-form")),
	)
	if got := d.text(`#client-list tr[data-id] td[data-label="Name"]`); got != "Acme Deploy" {
		t.Errorf("client name after the edit: got %q; want %q", got, "Acme Deploy")
	}

	d.step("token-form",
		chromedp.Click(chromedp.ID("token-new")),
		chromedp.WaitVisible(chromedp.ID("token-form")),
		chromedp.SendKeys(chromedp.ID("token-name"), "deploy script"),
		chromedp.Click(chromedp.CSS(`#token-scopes input[value="read"]`)),
	)
	d.step("token-created",
		chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("token-value")),
		chromedp.WaitVisible(chromedp.CSS(`#token-list tr[data-id]`)),
	)
	pat := d.text("#token-value")
	d.wantText("#token-list", "deploy script")
	d.wantText("#token-list", "read")
	if in := introspect(t, n, checkerID, checkerSecret, pat); in["active"] != true || in["scope"] != "read" {
		t.Errorf("the token shown: introspection %v; want an active token with scope read", in)
	}

	d.step("token-revoked",
		chromedp.Click(chromedp.CSS(`#token-created [data-dismiss]`)),
		chromedp.Click(chromedp.CSS(`#token-list tr[data-id] button.danger`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#token-list tr[data-id]`)),
	)
	d.wantText("#tokens", "No personal access tokens yet.")
	if in := introspect(t, n, checkerID, checkerSecret, pat); in["active"] != false {
		t.Errorf("the revoked token: introspection %v; want inactive", in)
	}

	d.step("narrow",
		chromedp.EmulateViewport(390, 844),
		chromedp.WaitVisible(chromedp.CSS(`#client-list tr[data-id]`)),
	)
	d.step("client-delete-confirm",
		chromedp.Click(chromedp.CSS(`#client-list tr[data-id] button.danger`)),
		chromedp.WaitVisible(chromedp.CSS(`#client-list [data-confirm]`)),
	)
	d.step("client-deleted",
		chromedp.Click(chromedp.CSS(`#client-list [data-confirm]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#client-list tr[data-id]`)),
	)
	d.wantText("#clients", "No clients yet.")
	d.wantNoConsoleErrors()
}

// dashboardBrowser is one headless Chromium tab with the test's
// screenshots and the page's console.
type dashboardBrowser struct {
	t         *testing.T
	ctx       context.Context // the tab; each step derives a timeout from it
	artifacts string
	shots     int

	mu      sync.Mutex
	console []chromedp.ConsoleMessage
}

// newDashboardBrowser starts Chromium, with a fresh profile, for the
// rest of t, and begins recording the console of its tab.
func newDashboardBrowser(t *testing.T, n *app.Node) *dashboardBrowser {
	t.Helper()
	dir := os.Getenv("STAMP_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "dashboard-*.png")) // so the set is this run's
	for _, f := range old {
		os.Remove(f)
	}
	profile := t.TempDir() // removed after the browser has exited (cleanups run last first)
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
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)

	// The first Do starts the browser and ties it to ctx, so it cannot
	// carry a timeout of its own: a timer cancels ctx instead.
	timer := time.AfterFunc(browserStartTimeout, cancel)
	err := chromedp.Do(ctx)
	if !timer.Stop() {
		err = fmt.Errorf("not started within %v: %w", browserStartTimeout, err)
	}
	if err != nil {
		t.Fatalf("start Chromium: %v", err)
	}

	d := &dashboardBrowser{t: t, ctx: ctx, artifacts: dir}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			d.mu.Lock()
			d.console = append(d.console, m)
			d.mu.Unlock()
		}
	}()
	return d
}

// step runs actions within browserStepTimeout, then saves a screenshot
// named after the step; a failed step saves one too, then fails the test.
func (d *dashboardBrowser) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, browserStepTimeout)
	defer cancel()
	err := chromedp.Do(ctx, actions...)
	if err != nil {
		name += "-failed"
	}
	d.screenshot(name)
	if err != nil {
		body, _ := d.run(chromedp.Text(chromedp.CSS("body")))
		d.t.Fatalf("step %s: %v\nthe page says:\n%s\nconsole:\n%s", name, err, body, d.consoleText())
	}
}

// run runs one action that returns a value, within browserStepTimeout.
func (d *dashboardBrowser) run(a chromedp.Action[string]) (string, error) {
	ctx, cancel := context.WithTimeout(d.ctx, browserStepTimeout)
	defer cancel()
	return chromedp.Run(ctx, a)
}

func (d *dashboardBrowser) screenshot(name string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, browserStepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		d.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	d.shots++
	file := filepath.Join(d.artifacts, fmt.Sprintf("dashboard-%02d-%s.png", d.shots, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		d.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	d.t.Logf("screenshot: %s", file)
}

// act runs actions within browserStepTimeout, with no screenshot.
func (d *dashboardBrowser) act(what string, actions ...chromedp.Action[chromedp.Void]) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		d.t.Fatalf("%s: %v", what, err)
	}
}

// waitLocation polls the tab's address until it starts with prefix, for
// at most browserStepTimeout, and returns it.
func (d *dashboardBrowser) waitLocation(prefix string) *url.URL {
	d.t.Helper()
	deadline := time.Now().Add(browserStepTimeout)
	var loc string
	for !strings.HasPrefix(loc, prefix) {
		if time.Now().After(deadline) {
			d.t.Fatalf("the browser is at %q after %v; want %s…", loc, browserStepTimeout, prefix)
		}
		time.Sleep(20 * time.Millisecond)
		loc, _ = d.run(chromedp.Location()) // fails while the page navigates
	}
	u, err := url.Parse(loc)
	if err != nil {
		d.t.Fatal(err)
	}
	return u
}

func (d *dashboardBrowser) location() string {
	d.t.Helper()
	loc, err := d.run(chromedp.Location())
	if err != nil {
		d.t.Fatalf("location: %v", err)
	}
	return loc
}

// text returns the visible text of the element selector finds.
func (d *dashboardBrowser) text(selector string) string {
	d.t.Helper()
	s, err := d.run(chromedp.Text(chromedp.CSS(selector)))
	if err != nil {
		d.t.Fatalf("text of %s: %v", selector, err)
	}
	return strings.TrimSpace(s)
}

func (d *dashboardBrowser) wantText(selector, want string) {
	d.t.Helper()
	if got := d.text(selector); !strings.Contains(got, want) {
		d.t.Errorf("%s says %q; want it to contain %q", selector, got, want)
	}
}

// wantNoConsoleErrors fails the test on an uncaught exception or an
// error in the console (a CSP violation, a failed request) other than the
// expected ones: the favicon the browser asks for on its own, the
// callback (which the node does not serve) and the validation error.
func (d *dashboardBrowser) wantNoConsoleErrors() {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range d.console {
		expected := strings.Contains(m.URL, "/favicon.ico") || strings.Contains(m.URL, "/callback") ||
			strings.Contains(m.URL, "/oauth/clients") && strings.Contains(m.Text, "status of 422")
		if (m.IsException() || m.Type == "error") && !expected {
			d.t.Errorf("console %s at %s: %s", m.Type, m.URL, m.Text)
		}
	}
}

func (d *dashboardBrowser) consoleText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b strings.Builder
	for _, m := range d.console {
		fmt.Fprintf(&b, "  %s %s: %s\n", m.Type, m.URL, m.Text)
	}
	return b.String()
}
