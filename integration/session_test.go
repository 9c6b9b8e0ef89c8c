package integration

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// TestLogoutEndsCopiedSession: a session cookie copied before logout is
// refused after it, by the pages (sent to log in) and by the JSON API
// (401), and still after a restart; the log records SessionEnded on the
// user's subject.
func TestLogoutEndsCopiedSession(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	code, out, errOut := e.run("install")
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	for _, m := range installedRE.FindAllStringSubmatch(out, -1) {
		e.awaitClient(n, m[2])
	}
	const email, password = "ada@example.com", "a long enough password"
	userID := e.createUser(n, email, password)

	ada := loggedIn(t, n, email, password)
	session, csrf := cookie(ada, "stamp_session"), cookie(ada, "XSRF-TOKEN")
	if session == "" || csrf == "" {
		t.Fatalf("after login: stamp_session %q, XSRF-TOKEN %q; want both", session, csrf)
	}
	copyOn := func(n *app.Node) *browser {
		b := newBrowser(t, n)
		b.client.Jar.SetCookies(b.base, []*http.Cookie{{Name: "stamp_session", Value: session, Path: "/"}})
		return b
	}
	thief := copyOn(n)
	if p := thief.get("/"); p.status != http.StatusOK || p.url.Path != "/" {
		t.Fatalf("the copy before logout: %d at %s; want the dashboard", p.status, p.url)
	}
	if status, body := apiCall(t, thief, "GET", "/oauth/clients", "", csrf, ""); status != http.StatusOK {
		t.Fatalf("the copy before logout on the JSON API: %d %s; want 200", status, body)
	}

	logout := ada.get("/").form(t, "/logout", "")
	if p := ada.post(logout.action, logout.fields); p.url.Path != "/login" {
		t.Fatalf("logout led to %s; want /login", p.url)
	}
	refused := func(b *browser, when string) {
		t.Helper()
		if p := b.get("/"); p.url.Path != "/login" {
			t.Errorf("the copy %s: %d at %s; want the login page", when, p.status, p.url)
		}
		if status, body := apiCall(t, b, "GET", "/oauth/clients", "", csrf, ""); status != http.StatusUnauthorized {
			t.Errorf("the copy %s on the JSON API: %d %s; want 401", when, status, body)
		}
	}
	refused(thief, "right after logout")

	code, out, errOut = e.run("audit", "user", userID)
	if code != 0 || !strings.Contains(out, "SessionEnded") {
		t.Errorf("audit user: exit %d, %q %q; want SessionEnded in the history", code, out, errOut)
	}

	// After a restart (read models reopened from disk), and on a node
	// whose read models were rebuilt from the log, the copy stays refused.
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	n = e.start()
	refused(copyOn(n), "after a restart")
	if code, out, errOut := e.run("replay"); code != 0 {
		t.Fatalf("replay: exit %d, %q %q", code, out, errOut)
	}
	refused(copyOn(n), "after a replay")
	if b := loggedIn(t, n, email, password); cookie(b, "stamp_session") == session {
		t.Error("a new login reused the ended session's cookie")
	}
}
