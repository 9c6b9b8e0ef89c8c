package domain

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDecideAuthorizationCode: RFC 6749 §4.1.3 and §10.5, RFC 7636 §4.6
// and RFC 8707 §2.2 as a table: given the code as read, when an exchange,
// then the redemption with its tokens, the reused code whose tokens are
// revoked, or the error.
func TestDecideAuthorizationCode(t *testing.T) {
	const cb, apiA, apiB = "https://app.example/cb", "https://a.example", "https://b.example"
	web := Client{ID: "web", SecretHash: "h", Grants: []string{GrantAuthorizationCode, GrantRefreshToken}, RedirectURIs: []string{cb}, Audiences: []string{apiA, apiB}}
	spa := Client{ID: "spa", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{cb}}
	twoURIs := Client{ID: "web", SecretHash: "h", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{cb, "https://app.example/other"}}
	cc := Client{ID: "web", SecretHash: "h", Grants: []string{GrantClientCredentials}}
	verifier := strings.Repeat("v", 50)
	issued := decisionNow().Add(-time.Minute)
	code := func(edit func(*AuthCode)) AuthCode {
		c := AuthCode{ID: "code1", Hash: HashSecret("the-code"), ClientID: "web", UserID: "u1", RedirectURI: cb, Scopes: []string{"read"},
			IssuedAt: issued, ExpiresAt: issued.Add(10 * time.Minute), Seq: 7}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	pkce := func(c *AuthCode) { c.ChallengeS256, c.ChallengeMethod = s256(verifier), PKCES256 }
	given := func(c *AuthCode) { c.RedirectURIGiven = true }
	exchange := func(edit func(*codeCommand)) codeCommand {
		c := codeCommand{CodeHash: HashSecret("the-code"), RedirectURI: cb}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	withVerifier := func(v string) func(*codeCommand) { return func(c *codeCommand) { c.Verifier = v } }
	noRedirect := func(c *codeCommand) { c.RedirectURI = "" }
	withTokens := []string{"AuthCodeRedeemed", "AccessTokenCreated", "RefreshTokenCreated"}
	accessOnly := []string{"AuthCodeRedeemed", "AccessTokenCreated"}

	tests := []struct {
		name    string
		st      codeState
		cmd     codeCommand
		now     time.Time
		wantErr error
		want    []string
		reused  bool
		wantAud []string
	}{
		{"§4.1.3: a confidential client redeems its code, with a refresh token", codeState{Client: web, Code: code(nil), Found: true}, exchange(nil), time.Time{}, nil, withTokens, false, []string{"web"}},
		{"§4.1.4: no refresh token for a client without the refresh grant", codeState{Client: spa, Code: code(func(c *AuthCode) { c.ClientID = "spa"; pkce(c) }), Found: true}, exchange(withVerifier(verifier)), time.Time{}, nil, accessOnly, false, []string{"spa"}},
		{"RFC 7636 §4.6: the verifier of an S256 challenge", codeState{Client: web, Code: code(pkce), Found: true}, exchange(withVerifier(verifier)), time.Time{}, nil, withTokens, false, []string{"web"}},
		{"RFC 7636 §4.6: a plain challenge is stored hashed and matches its verifier", codeState{Client: web, Code: code(func(c *AuthCode) { c.ChallengeS256, c.ChallengeMethod = s256(verifier), PKCEPlain }), Found: true}, exchange(withVerifier(verifier)), time.Time{}, nil, withTokens, false, []string{"web"}},
		{"RFC 7636 §4.6: a wrong verifier", codeState{Client: web, Code: code(pkce), Found: true}, exchange(withVerifier(strings.Repeat("w", 50))), time.Time{}, ErrInvalidGrant, nil, false, nil},
		{"RFC 7636 §4.6: no verifier for a challenge", codeState{Client: web, Code: code(pkce), Found: true}, exchange(nil), time.Time{}, ErrInvalidGrant, nil, false, nil},
		{"RFC 7636 §4.6: a malformed verifier", codeState{Client: web, Code: code(pkce), Found: true}, exchange(withVerifier("short")), time.Time{}, ErrInvalidGrant, nil, false, nil},
		{"a verifier without a stored challenge", codeState{Client: web, Code: code(nil), Found: true}, exchange(withVerifier(verifier)), time.Time{}, ErrInvalidGrant, nil, false, nil},
		{"§4.1.3: redirect_uri is required when the request carried one", codeState{Client: web, Code: code(given), Found: true}, exchange(noRedirect), time.Time{}, ErrInvalidRequest, nil, false, nil},
		{"§4.1.3: redirect_uri must be identical", codeState{Client: web, Code: code(given), Found: true}, exchange(func(c *codeCommand) { c.RedirectURI = cb + "/x" }), time.Time{}, ErrInvalidGrant, nil, false, nil},
		{"§4.1.3: redirect_uri may be left out when the request had none and the client one", codeState{Client: web, Code: code(nil), Found: true}, exchange(noRedirect), time.Time{}, nil, withTokens, false, []string{"web"}},
		{"§4.1.3: but not when the client registered several", codeState{Client: twoURIs, Code: code(nil), Found: true}, exchange(noRedirect), time.Time{}, ErrInvalidGrant, nil, false, nil},
		{"§4.1.2: an expired code", codeState{Client: web, Code: code(nil), Found: true}, exchange(nil), issued.Add(10 * time.Minute), ErrInvalidGrant, nil, false, nil},
		{"§4.1.2: a used code revokes what it produced", codeState{Client: web, Code: code(func(c *AuthCode) { c.Redeemed, c.AccessTokenID, c.FamilyID = true, "a1", "f1" }), Found: true}, exchange(nil), time.Time{}, ErrInvalidGrant, nil, true, nil},
		{"§4.1.2: a used and expired code still revokes", codeState{Client: web, Code: code(func(c *AuthCode) { c.Redeemed = true }), Found: true}, exchange(nil), issued.Add(time.Hour), ErrInvalidGrant, nil, true, nil},
		{"a redemption lost to a concurrent one (reloaded on conflict) revokes the winner's", codeState{Client: web, Code: code(func(c *AuthCode) { c.Redeemed = true }), Found: true, Reloaded: true}, exchange(nil), time.Time{}, ErrInvalidGrant, nil, true, nil},
		{"§4.1.3: another client's code revokes nothing", codeState{Client: spa, Code: code(func(c *AuthCode) { c.Redeemed = true }), Found: true}, exchange(nil), time.Time{}, ErrInvalidGrant, nil, false, nil},
		{"an unknown code", codeState{Client: web}, exchange(nil), time.Time{}, ErrInvalidGrant, nil, false, nil},
		{"a deleted user's code", codeState{Client: web, Code: code(nil), Found: true, UserGone: true}, exchange(nil), time.Time{}, ErrInvalidGrant, nil, false, nil},
		{"§5.2: a client without the grant", codeState{Client: cc, Code: code(nil), Found: true}, exchange(nil), time.Time{}, ErrUnauthorizedClient, nil, false, nil},
		{"§4.1.3: no code parameter", codeState{Client: web}, exchange(func(c *codeCommand) { c.CodeHash = "" }), time.Time{}, ErrInvalidRequest, nil, false, nil},
		{"RFC 8707 §2.2: a resource narrows the token, not the grant", codeState{Client: web, Code: code(func(c *AuthCode) { c.Resources = []string{apiA, apiB} }), Found: true}, exchange(func(c *codeCommand) { c.Resource = apiA }), time.Time{}, nil, withTokens, false, []string{apiA}},
		{"RFC 8707 §2.2: a resource the request did not name", codeState{Client: web, Code: code(func(c *AuthCode) { c.Resources = []string{apiA} }), Found: true}, exchange(func(c *codeCommand) { c.Resource = apiB }), time.Time{}, ErrInvalidTarget, nil, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			st.Issuer = testIssuer()
			now := tt.now
			if now.IsZero() {
				now = decisionNow()
			}
			d, err := decideAuthorizationCode(st, tt.cmd, now, rand.Reader)
			checkOutcome(t, d.tokenDecision, err, tt.wantErr, tt.want)
			if got := d.Reused != nil; got != tt.reused {
				t.Fatalf("reused: got %t; want %t", got, tt.reused)
			}
			if tt.reused && (d.Reused.ID != st.Code.ID || d.Reused.AccessTokenID != st.Code.AccessTokenID || d.Reused.FamilyID != st.Code.FamilyID) {
				t.Errorf("reused %+v; want the code as read", d.Reused)
			}
			if err != nil || d.Tokens == nil {
				return
			}
			redeemed, at := d.Events[0].(AuthCodeRedeemed), d.Tokens.Access
			if d.Expect != ExpectSeq(st.Code.Seq) || d.Actor != (Actor{Kind: ActorUser, ID: "u1"}) {
				t.Errorf("appends with %+v as %+v; want the code as read, as the user", d.Expect, d.Actor)
			}
			if redeemed.CodeID != "code1" || redeemed.AccessTokenID != at.TokenID || d.Tokens.Claims.Subject != "u1" || !slices.Equal(at.Scopes, st.Code.Scopes) {
				t.Errorf("redeemed %+v with %+v; want the code's user and scopes", redeemed, at)
			}
			if !slices.Equal(d.Tokens.Claims.Audience, tt.wantAud) {
				t.Errorf("aud: got %v; want %v", d.Tokens.Claims.Audience, tt.wantAud)
			}
			if rc := d.Tokens.Refresh; rc != nil {
				if redeemed.FamilyID != rc.FamilyID || (len(st.Code.Resources) > 0 && !slices.Equal(rc.Resources, st.Code.Resources)) {
					t.Errorf("family %+v; want it named by the redemption and bound to the code's resources", rc)
				}
			}
		})
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
