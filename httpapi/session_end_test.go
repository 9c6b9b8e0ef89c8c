package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestLogoutEndsEveryCopy: a copy of the session cookie taken before
// logout is refused after it, by the pages (a redirect to log in) and by
// the JSON API (401); the end names the session's user and expiry.
func TestLogoutEndsEveryCopy(t *testing.T) {
	h, b := apiBrowser(t)
	csrf := b.cookie(xsrfCookie)
	thief := newBrowser(t, h.handler)
	thief.setCookie(sessionCookie, b.cookie(sessionCookie))
	wantStatus(t, thief.get(pathDevice), http.StatusOK)
	wantStatus(t, thief.apiCall(http.MethodGet, pathClients, csrf), http.StatusOK)

	wantStatus(t, b.submit(mustForm(t, b.get(pathDevice), pathLogout, ""), nil), http.StatusSeeOther)

	p := thief.get(pathDevice)
	wantStatus(t, p, http.StatusFound)
	if !strings.HasPrefix(p.location(), pathLogin+"?") {
		t.Errorf("the copy after logout: Location %q; want the login page", p.location())
	}
	wantUnauthenticated(t, thief.apiCall(http.MethodGet, pathClients, csrf))
	if len(h.web.ended) != 1 {
		t.Fatalf("ended sessions: %+v; want one", h.web.ended)
	}
	for id, e := range h.web.ended {
		if id == "" || e.UserID != testUser.ID || !e.Expires.Equal(testNow.Add(DefaultSessionLifetime)) {
			t.Errorf("ended %q %+v; want an id, %s, expiring at %v", id, e, testUser.ID, testNow.Add(DefaultSessionLifetime))
		}
	}

	// A new login is a new session, untouched by the old one's end.
	b2 := loggedIn(t, h)
	wantStatus(t, b2.get(pathDevice), http.StatusOK)
}

// TestLogoutFailsWhole: when the end of the session cannot be recorded,
// logout is an error page and every cookie stays, so it can be retried;
// a failure to check a session is a 500, not a stranger.
func TestLogoutFailsWhole(t *testing.T) {
	h, b := apiBrowser(t)
	page := b.get(pathDevice)
	h.web.sessionErr = errors.New("nats: timeout")
	p := b.submit(mustForm(t, page, pathLogout, ""), nil)
	wantStatus(t, p, http.StatusInternalServerError)
	if c := sessionCookieOf(p); c != nil {
		t.Errorf("cookie after a failed logout: %+v; want it untouched", c)
	}
	h.web.sessionErr = nil
	wantStatus(t, b.get(pathDevice), http.StatusOK)
	p = b.submit(mustForm(t, b.get(pathDevice), pathLogout, ""), nil)
	wantStatus(t, p, http.StatusSeeOther)
	wantStatus(t, b.get(pathDevice), http.StatusFound)
}

// TestSessionWithoutID: a login cookie without a session id (written
// before sessions had one) cannot be ended, so it is void.
func TestSessionWithoutID(t *testing.T) {
	h := webHarness(t, &fakeWeb{}, Options{})
	m := newSessions(testSessionKey, time.Hour, func() time.Time { return testNow }, true, nil)
	sess := m.login(testUser.ID)
	b := newBrowser(t, h.handler)
	b.setCookie(sessionCookie, m.encode(sess))
	wantStatus(t, b.get(pathDevice), http.StatusOK) // the same cookie with its id

	sess.ID = ""
	b.setCookie(sessionCookie, m.encode(sess))
	p := b.get(pathDevice)
	wantStatus(t, p, http.StatusFound)
	if !strings.HasPrefix(p.location(), pathLogin+"?") {
		t.Errorf("Location %q; want the login page", p.location())
	}
}
