package domain

import (
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"testing"
	"time"
)

// TestApprovalIsSingleUse: an approval keyed by its screen's token mints
// one code; the same key again is invalid_request and appends nothing,
// while another key (another screen) mints another code.
func TestApprovalIsSingleUse(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	web, secret := h.client(t, RegisterClient{Name: "web", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example/cb"}})
	codes := func() int {
		n := 0
		for _, e := range h.log.events() {
			if _, ok := e.(AuthCodeIssued); ok {
				n++
			}
		}
		return n
	}
	req := AuthorizeRequest{ResponseType: "code", ClientID: web.ID, Scope: "read", State: "s", ApprovalKey: "screen-token-1"}
	loc, err := h.svc.Approve(ctx, req, u)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := url.Parse(loc)
	if first.Query().Get("code") == "" || codes() != 1 {
		t.Fatalf("first approval: got %s and %d codes; want a code", loc, codes())
	}
	var re *RedirectError
	if loc, err := h.svc.Approve(ctx, req, u); !errors.Is(err, ErrInvalidRequest) || errors.As(err, &re) || loc != "" {
		t.Errorf("the same approval again: got %q, %v; want invalid_request shown, not redirected", loc, err)
	}
	if n := codes(); n != 1 {
		t.Errorf("the same approval again minted a code: %d codes; want 1", n)
	}
	// The code of the first approval still works.
	if _, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantAuthorizationCode, Client: ClientCredentials{ID: web.ID, Secret: secret},
		Form: map[string]string{"code": first.Query().Get("code")}}); err != nil {
		t.Errorf("the first approval's code: %v", err)
	}
	req.ApprovalKey = "screen-token-2"
	if _, err := h.svc.Approve(ctx, req, u); err != nil || codes() != 2 {
		t.Errorf("another screen's approval: got %v and %d codes; want a second code", err, codes())
	}
	req.ApprovalKey = ""
	for range 2 {
		if _, err := h.svc.Approve(ctx, req, u); err != nil {
			t.Errorf("an unkeyed approval (the screen was skipped): %v", err)
		}
	}
	if n := codes(); n != 4 {
		t.Errorf("got %d codes; want 4 (unkeyed approvals are separate requests)", n)
	}
}

// TestCodeExchangeRedirectURI applies RFC 6749 §4.1.3: redirect_uri is
// required at the exchange, and identical, when the authorization
// request carried it; when the request left it out (the client has one),
// the exchange may leave it out or send that one.
func TestCodeExchangeRedirectURI(t *testing.T) {
	const cb = "https://app.example/cb"
	tests := []struct {
		name      string
		inRequest string // redirect_uri of the authorization request
		exchange  string // redirect_uri of the token request
		wantErr   *OAuthError
	}{
		{"sent and sent again", cb, cb, nil},
		{"sent and left out", cb, "", ErrInvalidRequest},
		{"sent and another", cb, "https://app.example/other", ErrInvalidGrant},
		{"sent and differing in case", cb, "https://app.example/CB", ErrInvalidGrant},
		{"left out and left out", "", "", nil},
		{"left out and sent", "", cb, nil},
		{"left out and another", "", "https://app.example/other", ErrInvalidGrant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, EdDSA)
			u := h.user(t, "ada@example.com")
			web, secret := h.client(t, RegisterClient{Name: "web", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{cb}})
			loc, err := h.svc.Approve(ctx, AuthorizeRequest{ResponseType: "code", ClientID: web.ID, RedirectURI: tt.inRequest, Scope: "read"}, u)
			if err != nil {
				t.Fatal(err)
			}
			lu, _ := url.Parse(loc)
			form := map[string]string{"code": lu.Query().Get("code")}
			if tt.exchange != "" {
				form["redirect_uri"] = tt.exchange
			}
			_, err = h.svc.Token(ctx, TokenRequest{GrantType: GrantAuthorizationCode, Client: ClientCredentials{ID: web.ID, Secret: secret}, Form: form})
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("got %v; want tokens", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("got %v; want %s", err, tt.wantErr.Code)
			}
		})
	}
}

// TestRedirectURISchemes: registration and update refuse redirect URIs
// that are not http(s) or a private-use scheme with a '.' (RFC 8252
// §7.1), naming the field; a client registered with one before this rule
// gets no redirect to it.
func TestRedirectURISchemes(t *testing.T) {
	scopes, _ := NewScopes([]Scope{{"read", ""}}, nil)
	for _, tt := range []struct {
		uri string
		ok  bool
	}{
		{"https://app.example/cb", true},
		{"http://127.0.0.1:8000/cb", true},
		{"com.example.app:/oauth2redirect", true},
		{"com.example.app:/cb?x=1", true},
		{"javascript:alert(document.cookie)", false},
		{"JavaScript://app.example/%0aalert(1)", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"vbscript:msgbox(1)", false},
		{"file:///etc/passwd", false},
		{"myapp:/cb", false},
		{"ftp://files.example/cb", false},
	} {
		_, err := decideRegisterClient(scopes, RegisterClient{Name: "a", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{tt.uri}}, time.Now(), rand.Reader)
		v, isValidation := AsValidation(err)
		switch {
		case tt.ok && err != nil:
			t.Errorf("%q: got %v; want it accepted", tt.uri, err)
		case !tt.ok && (!isValidation || v.Field != "redirect_uris"):
			t.Errorf("%q: got %v; want a validation error on redirect_uris", tt.uri, err)
		}
	}

	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	c, _ := h.client(t, RegisterClient{Name: "web", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example/cb"}})
	_, err := h.svc.UpdateClient(ctx, Actor{Kind: ActorCLI}, UpdateClient{ClientID: c.ID, Name: "web", RedirectURIs: []string{"javascript:alert(1)"}})
	if v, ok := AsValidation(err); !ok || v.Field != "redirect_uris" {
		t.Errorf("update to javascript: got %v; want a validation error on redirect_uris", err)
	}

	// A client the log holds with a javascript: URI, from before the rule.
	f := &refreshFixture{harness: h}
	old := ClientRegistered{ClientID: "old-client", Name: "old", Grants: []string{GrantAuthorizationCode},
		RedirectURIs: []string{"javascript:alert(1)"}, SecretHash: HashSecret("s"), RegisteredAt: h.clock.t}
	f.given(t, old)
	var re *RedirectError
	if _, err := h.svc.Authorize(ctx, AuthorizeRequest{ResponseType: "code", ClientID: old.ClientID, Scope: "read"}, &u); !errors.Is(err, ErrInvalidRequest) || errors.As(err, &re) {
		t.Errorf("authorize to a registered javascript: URI: got %v; want invalid_request shown, not redirected", err)
	}
}
