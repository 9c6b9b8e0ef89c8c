package domain

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func (h harness) user(t *testing.T, email string) User {
	t.Helper()
	u, err := h.svc.RegisterUser(context.Background(), Actor{Kind: ActorCLI}, email, "", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUsers(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, " Ada@Example.com ")
	if u.Email != "ada@example.com" || strings.Contains(u.PasswordSealed, "argon2") {
		t.Fatalf("got %+v; want a normalised email and a sealed password", u)
	}
	if _, err := h.svc.RegisterUser(ctx, Actor{Kind: ActorCLI}, "ada@example.com", "", "another one"); err == nil {
		t.Errorf("a second user with the same email: got nil; want a validation error")
	}
	for _, bad := range [][2]string{{"not-an-email", "correct horse"}, {"b@example.com", "short"}} {
		if _, err := h.svc.RegisterUser(ctx, Actor{Kind: ActorCLI}, bad[0], "", bad[1]); err == nil {
			t.Errorf("RegisterUser(%q, %q): got nil; want a validation error", bad[0], bad[1])
		}
	}
	if got, err := h.svc.AuthenticateUser(ctx, "ADA@example.com", "correct horse", "10.0.0.1"); err != nil || got.ID != u.ID {
		t.Errorf("login: got %+v, %v", got, err)
	}
	_, wrong := h.svc.AuthenticateUser(ctx, "ada@example.com", "wrong horse", "10.0.0.1")
	_, nobody := h.svc.AuthenticateUser(ctx, "nobody@example.com", "correct horse", "10.0.0.1")
	if !errors.Is(wrong, ErrAccessDenied) || !errors.Is(nobody, ErrAccessDenied) || wrong.Error() != nobody.Error() {
		t.Errorf("failures differ: %v / %v; want the same access_denied", wrong, nobody)
	}
	if err := h.svc.ChangePassword(ctx, Actor{Kind: ActorCLI}, u.ID, "new password!"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.AuthenticateUser(ctx, "ada@example.com", "new password!", ""); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
	if err := h.svc.DeleteUser(ctx, Actor{Kind: ActorCLI}, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.AuthenticateUser(ctx, "ada@example.com", "new password!", ""); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("login of a deleted user: got %v; want access_denied", err)
	}
}

func TestImplicitGrant(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	c, _ := h.client(t, RegisterClient{Name: "legacy", Grants: []string{GrantImplicit}, RedirectURIs: []string{"https://app.example/cb"}, Public: true})
	loc, err := h.svc.Approve(ctx, AuthorizeRequest{ResponseType: "token", ClientID: c.ID, Scope: "read", State: "s"}, u)
	if err != nil {
		t.Fatal(err)
	}
	frag, _ := url.ParseQuery(strings.SplitN(loc, "#", 2)[1])
	if frag.Get("access_token") == "" || frag.Get("state") != "s" || strings.Contains(strings.SplitN(loc, "#", 2)[0], "access_token") {
		t.Errorf("implicit: got %s; want the token in the fragment", loc)
	}
	h.svc.cfg.Implicit = false
	var re *RedirectError
	if _, err := h.svc.Approve(ctx, AuthorizeRequest{ResponseType: "token", ClientID: c.ID}, u); !errors.As(err, &re) || !re.Fragment {
		t.Errorf("implicit disabled: got %v; want a redirected error in the fragment", err)
	}
}

func TestPersonalAccessTokens(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	if _, err := h.svc.CreatePersonalAccessToken(ctx, Actor{Kind: ActorUser, ID: u.ID}, u.ID, "cli", []string{"read"}); err == nil {
		t.Errorf("without a personal access client: got nil; want an error")
	}
	h.client(t, RegisterClient{Name: "Personal Access Client", Grants: []string{GrantPersonalAccess}})
	pat, err := h.svc.CreatePersonalAccessToken(ctx, Actor{Kind: ActorUser, ID: u.ID}, u.ID, "cli", []string{"*"})
	if err != nil || pat.Token.Name != "cli" || pat.Token.UserID != u.ID || !pat.Token.ExpiresAt.Equal(h.clock.t.Truncate(time.Second).Add(365*24*time.Hour)) {
		t.Fatalf("got %+v, %v", pat, err)
	}
	if _, claims, err := h.svc.ValidateAccessToken(ctx, pat.AccessToken); err != nil || claims.Scope != "*" {
		t.Errorf("the PAT: got %+v, %v", claims, err)
	}
	if _, err := h.svc.CreatePersonalAccessToken(ctx, Actor{Kind: ActorUser, ID: u.ID}, u.ID, "", nil); err == nil {
		t.Errorf("no name: got nil; want a validation error")
	}
	if err := h.svc.DeleteUser(ctx, Actor{Kind: ActorCLI}, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.svc.ValidateAccessToken(ctx, pat.AccessToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("a deleted user's PAT: got %v; want invalid", err)
	}
}

// TestConcurrentRegistrationsOfOneEmail: the email's claim aggregate lets
// exactly one of several concurrent registrations win; after the winner is
// deleted the email can be registered again.
func TestConcurrentRegistrationsOfOneEmail(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	var wg sync.WaitGroup
	won := make(chan User, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if u, err := h.svc.RegisterUser(ctx, Actor{Kind: ActorCLI}, "ada@example.com", "", "correct horse"); err == nil {
				won <- u
			} else if v, ok := AsValidation(err); !ok || v.Field != "email" {
				t.Errorf("a loser got %v; want a validation error on email", err)
			}
		}()
	}
	wg.Wait()
	close(won)
	if len(won) != 1 {
		t.Fatalf("%d registrations won; want exactly 1", len(won))
	}
	u := <-won
	if err := h.svc.DeleteUser(ctx, Actor{Kind: ActorCLI}, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RegisterUser(ctx, Actor{Kind: ActorCLI}, "ada@example.com", "", "correct horse"); err != nil {
		t.Errorf("registering a deleted user's email again: %v", err)
	}
}
