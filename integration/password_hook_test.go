package integration

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/stamp-oauth/stamp/listeners"
)

// hookApp is an application's password endpoint: it accepts one
// password, checks stamp's signature with the webhooks' verifier, and can
// be made to fail (500) or hang (slow).
type hookApp struct {
	secret  []byte
	mode    atomic.Value // "up", "error" or "slow"
	calls   atomic.Int32
	badSigs atomic.Int32
	release chan struct{}
}

func (a *hookApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	if err := listeners.VerifyWebhook(a.secret, r.Header.Get("X-Stamp-Signature"), body, time.Now(), 0); err != nil {
		a.badSigs.Add(1)
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	switch a.mode.Load() {
	case "error":
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	case "slow":
		select { // until stamp gives up, or the test ends
		case <-r.Context().Done():
		case <-a.release:
		}
		return
	}
	var in struct{ Username, Password string }
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if in.Username != "ada@example.com" || in.Password != "right-password" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte(`{"subject":"app-7","name":"Ada"}`))
}

// TestPasswordHook checks the external password check against a real
// application endpoint: the right password logs in through the password
// grant (x/oauth2) and the built-in login, as the subject the app names,
// which becomes a stamp user on first success; a wrong one is
// invalid_grant; an app that fails, hangs past the timeout or is down
// fails closed: 503 temporarily_unavailable with Retry-After, never a
// token. Every request stamp sent carried a valid webhook-style
// signature.
func TestPasswordHook(t *testing.T) {
	app := &hookApp{secret: []byte("a-hook-secret-of-32-bytes-length"), release: make(chan struct{})}
	app.mode.Store("up")
	srv := httptest.NewServer(app)
	t.Cleanup(func() { close(app.release); srv.Close() })

	e := newEnv(t, "STAMP_PASSWORD_GRANT", "true", "STAMP_PASSWORD_HOOK_URL", srv.URL+"/stamp/password",
		"STAMP_PASSWORD_HOOK_SECRET", string(app.secret), "STAMP_PASSWORD_HOOK_TIMEOUT", "300ms")
	n := e.start()
	code, out, errOut := e.run("install")
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	var pwID, pwSecret string
	for _, m := range installedRE.FindAllStringSubmatch(out, -1) {
		e.awaitClient(n, m[2])
		if strings.Contains(m[1], "Password") {
			pwID, pwSecret = m[2], m[3]
		}
	}
	if pwID == "" {
		t.Fatalf("install printed %q; want a password grant client", out)
	}
	conf := &oauth2.Config{ClientID: pwID, ClientSecret: pwSecret, Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{TokenURL: n.HTTPURL() + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	ctx := context.Background()

	for i := range 2 { // the first login creates the user, the second finds it
		tok, err := conf.PasswordCredentialsToken(ctx, "ada@example.com", "right-password")
		if err != nil {
			t.Fatalf("login %d through the hook: %v", i+1, err)
		}
		if in := introspect(t, n, pwID, pwSecret, tok.AccessToken); in["active"] != true || in["sub"] != "app-7" {
			t.Fatalf("login %d: introspection %v; want active with sub app-7", i+1, in)
		}
	}
	u, err := n.Views().User(ctx, "app-7")
	if err != nil || !u.Exists() || u.Email != "ada@example.com" || u.Name != "Ada" {
		t.Fatalf("the hook's subject as a stamp user: %+v, %v; want app-7, ada@example.com, Ada", u, err)
	}
	loggedIn(t, n, "ada@example.com", "right-password") // the built-in login asks the hook too

	_, err = conf.PasswordCredentialsToken(ctx, "ada@example.com", "wrong-password")
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("a wrong password: %v; want invalid_grant", err)
	}

	failsClosed := func(what string) {
		t.Helper()
		st, h, b := postForm(t, n.HTTPURL()+"/oauth/token", pwID, pwSecret, url.Values{
			"grant_type": {"password"}, "username": {"ada@example.com"}, "password": {"right-password"}})
		var got struct {
			Error       string `json:"error"`
			AccessToken string `json:"access_token"`
		}
		json.Unmarshal(b, &got)
		if st != http.StatusServiceUnavailable || got.Error != "temporarily_unavailable" || got.AccessToken != "" || h.Get("Retry-After") == "" {
			t.Errorf("%s: %d %s (Retry-After %q); want 503 temporarily_unavailable with Retry-After", what, st, b, h.Get("Retry-After"))
		}
	}
	app.mode.Store("error")
	failsClosed("the hook answering 500")
	app.mode.Store("slow")
	failsClosed("the hook slower than the timeout")
	app.mode.Store("up")
	srvURL := srv.URL
	srv.Close()
	if _, err := http.Get(srvURL); err == nil {
		t.Fatalf("the hook server still answers after Close")
	}
	failsClosed("the hook down")

	if app.calls.Load() < 5 || app.badSigs.Load() != 0 {
		t.Errorf("the hook saw %d calls, %d with a bad signature; want at least 5, none bad", app.calls.Load(), app.badSigs.Load())
	}
}
