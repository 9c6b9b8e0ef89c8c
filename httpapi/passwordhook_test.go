package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// TestPasswordHookAnswers checks which answers of the application log a
// user in (200 with a valid subject), which refuse the password (401),
// and that everything else fails closed (an error that is not
// access_denied).
func TestPasswordHookAnswers(t *testing.T) {
	secret := []byte("0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	for _, tt := range []struct {
		name    string
		status  int
		body    string
		login   domain.HookLogin
		denied  bool
		failure bool
	}{
		{"right", 200, `{"subject":"app-7","email":"ada@example.com","name":"Ada"}`, domain.HookLogin{Subject: "app-7", Email: "ada@example.com", Name: "Ada"}, false, false},
		{"wrong", 401, ``, domain.HookLogin{}, true, false},
		{"forbidden is not a no", 403, ``, domain.HookLogin{}, false, true},
		{"server error", 500, `{"subject":"app-7"}`, domain.HookLogin{}, false, true},
		{"redirect", 302, ``, domain.HookLogin{}, false, true},
		{"no subject", 200, `{}`, domain.HookLogin{}, false, true},
		{"bad subject", 200, `{"subject":"a b"}`, domain.HookLogin{}, false, true},
		{"not JSON", 200, `yes`, domain.HookLogin{}, false, true},
		{"too long", 200, `{"subject":"app-7","name":"` + strings.Repeat("x", maxHookAnswer) + `"}`, domain.HookLogin{}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var gotSig, gotBody string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				gotSig, gotBody = r.Header.Get(HeaderSignature), string(b)
				if tt.status == 302 {
					http.Redirect(w, r, "/elsewhere", http.StatusFound)
					return
				}
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			h, err := NewPasswordHook(PasswordHookOptions{URL: srv.URL, Secret: secret, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			login, err := h.CheckPassword(context.Background(), "ada@example.com", "pw")
			if login != tt.login || errors.Is(err, domain.ErrAccessDenied) != tt.denied || (err != nil && !tt.denied) != tt.failure {
				t.Errorf("got %+v, %v; want %+v, denied %t, failure %t", login, err, tt.login, tt.denied, tt.failure)
			}
			want := `{"username":"ada@example.com","password":"pw"}`
			if gotBody != want || gotSig != domain.SignPayload(secret, now, []byte(want)) {
				t.Errorf("sent %s signed %q; want %s signed with the webhooks' scheme", gotBody, gotSig, want)
			}
		})
	}
}

func TestPasswordHookTimeoutAndOptions(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	h, err := NewPasswordHook(PasswordHookOptions{URL: srv.URL, Secret: []byte("0123456789abcdef"), Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.CheckPassword(context.Background(), "a", "b"); err == nil || errors.Is(err, domain.ErrAccessDenied) {
		t.Errorf("a hook past its timeout: %v; want a failure", err)
	}
	for _, o := range []PasswordHookOptions{
		{URL: "ftp://x", Secret: []byte("0123456789abcdef")},
		{URL: "/relative", Secret: []byte("0123456789abcdef")},
		{URL: "https://app.example/hook", Secret: []byte("short")},
		{URL: "https://app.example/hook", Secret: []byte("0123456789abcdef"), Timeout: -time.Second},
	} {
		if _, err := NewPasswordHook(o); err == nil {
			t.Errorf("NewPasswordHook(%+v): got nil; want an error", o)
		}
	}
}
