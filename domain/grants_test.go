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

func TestAuthorizationCodeGrant(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	web, secret := h.client(t, RegisterClient{Name: "web", Grants: []string{GrantAuthorizationCode, GrantRefreshToken}, RedirectURIs: []string{"https://app.example/cb"}})
	spa, _ := h.client(t, RegisterClient{Name: "spa", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"http://127.0.0.1/cb"}, Public: true})
	verifier := strings.Repeat("v", 50)

	// Validation: errors before the redirect URI is trusted are shown,
	// after it they are redirected.
	if _, err := h.svc.Authorize(ctx, AuthorizeRequest{ResponseType: "code", ClientID: web.ID, RedirectURI: "https://evil.example/cb"}, &u); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("mismatched redirect: got %v; want invalid_request shown, not redirected", err)
	}
	var re *RedirectError
	if _, err := h.svc.Authorize(ctx, AuthorizeRequest{ResponseType: "code", ClientID: spa.ID, RedirectURI: "http://127.0.0.1:53117/cb", State: "s1"}, &u); !errors.As(err, &re) || !strings.Contains(re.Location(h.svc.Issuer()), "error=invalid_request") || !strings.Contains(re.Location(h.svc.Issuer()), "state=s1") {
		t.Errorf("public client without PKCE: got %v; want a redirected invalid_request with state", err)
	}
	if _, err := h.svc.Authorize(ctx, AuthorizeRequest{ResponseType: "code", ClientID: web.ID, Scope: "root"}, &u); !errors.As(err, &re) || re.Err.Code != "invalid_scope" {
		t.Errorf("unknown scope: got %v; want redirected invalid_scope", err)
	}
	if _, err := h.svc.Authorize(ctx, AuthorizeRequest{ResponseType: "code", ClientID: web.ID, Prompt: "none"}, nil); !errors.As(err, &re) || re.Err.Code != "login_required" {
		t.Errorf("prompt=none logged out: got %v; want login_required", err)
	}
	p, err := h.svc.Authorize(ctx, AuthorizeRequest{ResponseType: "code", ClientID: web.ID, Scope: "read"}, &u)
	if err != nil || p.Skip || len(p.Scopes) != 1 || p.Scopes[0].Description != "Read your data" {
		t.Fatalf("first authorize: got %+v, %v; want a consent screen for read", p, err)
	}

	req := AuthorizeRequest{ResponseType: "code", ClientID: spa.ID, RedirectURI: "http://127.0.0.1:40000/cb", Scope: "read", State: "xyz", CodeChallenge: s256(verifier), CodeChallengeMethod: PKCES256}
	loc, err := h.svc.Approve(ctx, req, u)
	if err != nil {
		t.Fatal(err)
	}
	lu, _ := url.Parse(loc)
	code := lu.Query().Get("code")
	if lu.Host != "127.0.0.1:40000" || code == "" || lu.Query().Get("state") != "xyz" || lu.Query().Get("iss") != h.svc.Issuer() {
		t.Fatalf("approve redirected to %s; want the loopback URI with code, state and iss", loc)
	}
	exchange := func(id, secret, code, redirect, verifier string) (TokenResponse, error) {
		return h.svc.Token(ctx, TokenRequest{GrantType: GrantAuthorizationCode, Client: ClientCredentials{ID: id, Secret: secret},
			Form: map[string]string{"code": code, "redirect_uri": redirect, "code_verifier": verifier}})
	}
	if _, err := exchange(spa.ID, "", code, "http://127.0.0.1:40000/cb", strings.Repeat("w", 50)); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("wrong verifier: got %v; want invalid_grant", err)
	}
	tok, err := exchange(spa.ID, "", code, "http://127.0.0.1:40000/cb", verifier)
	if err != nil || tok.RefreshToken != "" {
		t.Fatalf("exchange: got %+v, %v; want an access token and no refresh token (the client lacks the grant)", tok, err)
	}
	// The consent is durable: the same scopes skip the screen now.
	if p, err := h.svc.Authorize(ctx, AuthorizeRequest{ResponseType: "code", ClientID: spa.ID, Scope: "read", CodeChallenge: s256(verifier), CodeChallengeMethod: PKCES256}, &u); err != nil || !p.Skip {
		t.Errorf("second authorize: got skip=%v, %v; want skip", p.Skip, err)
	}
	if p, _ := h.svc.Authorize(ctx, AuthorizeRequest{ResponseType: "code", ClientID: spa.ID, Scope: "read", Prompt: "consent", CodeChallenge: s256(verifier), CodeChallengeMethod: PKCES256}, &u); p.Skip {
		t.Errorf("prompt=consent: got skip; want the screen")
	}
	// Reuse: invalid_grant, and the tokens of the first exchange are revoked.
	if _, err := exchange(spa.ID, "", code, "http://127.0.0.1:40000/cb", verifier); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("reuse: got %v; want invalid_grant", err)
	}
	if _, _, err := h.svc.ValidateAccessToken(ctx, tok.AccessToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("token of a reused code: got %v; want revoked", err)
	}

	// A confidential client; a plain challenge; a verifier without a challenge.
	loc, _ = h.svc.Approve(ctx, AuthorizeRequest{ResponseType: "code", ClientID: web.ID, Scope: "read write"}, u)
	lu, _ = url.Parse(loc)
	if _, err := exchange(web.ID, secret, lu.Query().Get("code"), "https://app.example/cb", verifier); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("verifier without a stored challenge: got %v; want invalid_grant", err)
	}
	loc, _ = h.svc.Approve(ctx, AuthorizeRequest{ResponseType: "code", ClientID: web.ID, Scope: "read", CodeChallenge: verifier, CodeChallengeMethod: PKCEPlain}, u)
	lu, _ = url.Parse(loc)
	tok, err = exchange(web.ID, secret, lu.Query().Get("code"), "https://app.example/cb", verifier)
	if err != nil || tok.RefreshToken == "" {
		t.Errorf("plain PKCE exchange: got %+v, %v; want tokens with a refresh token", tok, err)
	}
	h.clock.t = h.clock.t.Add(11 * time.Minute)
	loc, _ = h.svc.Approve(ctx, AuthorizeRequest{ResponseType: "code", ClientID: web.ID, Scope: "read"}, u)
	lu, _ = url.Parse(loc)
	h.clock.t = h.clock.t.Add(11 * time.Minute)
	if _, err := exchange(web.ID, secret, lu.Query().Get("code"), "https://app.example/cb", ""); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("expired code: got %v; want invalid_grant", err)
	}
	// Deny.
	loc, err = h.svc.Deny(ctx, AuthorizeRequest{ResponseType: "code", ClientID: web.ID, State: "q"}, u)
	if err != nil || !strings.Contains(loc, "error=access_denied") || !strings.Contains(loc, "state=q") {
		t.Errorf("deny: got %s, %v", loc, err)
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

func TestDeviceGrant(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	c, _ := h.client(t, RegisterClient{Name: "tv", Grants: []string{GrantDeviceCode, GrantRefreshToken}, Public: true})
	da, err := h.svc.DeviceAuthorize(ctx, ClientCredentials{ID: c.ID}, "read")
	if err != nil || len(da.UserCode) != 9 || da.Interval != 5 || !strings.HasSuffix(da.VerificationURI, "/oauth/device") {
		t.Fatalf("device authorization: got %+v, %v", da, err)
	}
	poll := func() error {
		_, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantDeviceCode, Client: ClientCredentials{ID: c.ID}, Form: map[string]string{"device_code": da.DeviceCode}})
		return err
	}
	if err := poll(); !errors.Is(err, ErrAuthorizationPending) {
		t.Errorf("first poll: got %v; want authorization_pending", err)
	}
	if err := poll(); !errors.Is(err, ErrSlowDown) {
		t.Errorf("an immediate second poll: got %v; want slow_down", err)
	}
	if _, err := h.svc.LookupUserCode(ctx, u, "ZZZZ-ZZZZ", "192.0.2.1"); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("unknown user code: got %v", err)
	}
	if err := h.svc.DecideDevice(ctx, u, strings.ToLower(da.UserCode), true); err != nil {
		t.Fatal(err)
	}
	h.clock.t = h.clock.t.Add(6 * time.Second)
	tok, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantDeviceCode, Client: ClientCredentials{ID: c.ID}, Form: map[string]string{"device_code": da.DeviceCode}})
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("after approval: got %+v, %v", tok, err)
	}
	if err := poll(); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("a second redemption: got %v; want invalid_grant", err)
	}

	denied, _ := h.svc.DeviceAuthorize(ctx, ClientCredentials{ID: c.ID}, "")
	if err := h.svc.DecideDevice(ctx, u, denied.UserCode, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantDeviceCode, Client: ClientCredentials{ID: c.ID}, Form: map[string]string{"device_code": denied.DeviceCode}}); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("denied: got %v; want access_denied", err)
	}
	late, _ := h.svc.DeviceAuthorize(ctx, ClientCredentials{ID: c.ID}, "")
	h.clock.t = h.clock.t.Add(11 * time.Minute)
	if _, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantDeviceCode, Client: ClientCredentials{ID: c.ID}, Form: map[string]string{"device_code": late.DeviceCode}}); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("expired: got %v; want expired_token", err)
	}
	if code := NormalizeUserCode("bcdf-ghjk"); code != "BCDFGHJK" {
		t.Errorf("NormalizeUserCode: got %q", code)
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
