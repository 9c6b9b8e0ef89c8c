package domain

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// The refresh token rules as table tests: given events in the log, when a
// command, then the events it appended, or its error.

// refreshFixture is a harness with a user, the client "app" (password and
// refresh grants) the family belongs to, and the client "other".
type refreshFixture struct {
	harness
	user       User
	app, other ClientCredentials
	n          int // events given so far, for unique event ids
}

func newRefreshFixture(t *testing.T) *refreshFixture {
	t.Helper()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	app, appSecret := h.client(t, RegisterClient{Name: "app", Grants: []string{GrantPassword, GrantRefreshToken}})
	other, otherSecret := h.client(t, RegisterClient{Name: "other", Grants: []string{GrantPassword, GrantRefreshToken}})
	return &refreshFixture{harness: h, user: u,
		app: ClientCredentials{ID: app.ID, Secret: appSecret}, other: ClientCredentials{ID: other.ID, Secret: otherSecret}}
}

// The family of the fixtures: rt1 issued with access token a1; rotation
// replaces them by rt2 and a2.
const (
	famID = "fam-1"
	rt1   = "refresh-token-one"
	rt2   = "refresh-token-two"
)

// issued starts the family with scopes: rt1 and its access token a1.
func (f *refreshFixture) issued(scopes ...string) []Event {
	if scopes == nil {
		scopes = []string{"read", "write"}
	}
	now := f.clock.t.UTC()
	return []Event{
		RefreshTokenCreated{FamilyID: famID, RefreshTokenID: "r1", TokenHash: HashSecret(rt1), AccessTokenID: "a1",
			ClientID: f.app.ID, UserID: f.user.ID, Scopes: scopes, IssuedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)},
		AccessTokenCreated{TokenID: "a1", ClientID: f.app.ID, UserID: f.user.ID, Scopes: scopes, GrantType: GrantPassword,
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)},
	}
}

// rotated is the rotation of rt1 into rt2, as the grant records it.
func (f *refreshFixture) rotated() []Event {
	now := f.clock.t.UTC()
	return []Event{
		RefreshTokenCreated{FamilyID: famID, RefreshTokenID: "r2", ParentID: "r1", TokenHash: HashSecret(rt2), AccessTokenID: "a2",
			ClientID: f.app.ID, UserID: f.user.ID, Scopes: []string{"read", "write"}, IssuedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)},
		AccessTokenCreated{TokenID: "a2", ClientID: f.app.ID, UserID: f.user.ID, Scopes: []string{"read", "write"}, GrantType: GrantRefreshToken,
			IssuedAt: now, ExpiresAt: now.Add(time.Hour)},
		AccessTokenRevoked{TokenID: "a1", ClientID: f.app.ID, UserID: f.user.ID, ExpiresAt: now.Add(time.Hour), Reason: ReasonRotated},
	}
}

// given appends events to the log as one unit, as another instance (or
// an earlier request) would have, at the fixture's clock.
func (f *refreshFixture) given(t *testing.T, events ...Event) {
	t.Helper()
	ps := make([]Pending, len(events))
	for i, e := range events {
		f.n++
		env, err := NewEnvelope(fmt.Sprintf("given-%d", f.n), e, f.clock.t, Actor{Kind: ActorSystem})
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = Pending{Aggregate: e.AggregateOf(), Envelope: env}
	}
	if _, err := f.log.AppendAll(context.Background(), ExpectAny, ps...); err != nil {
		t.Fatal(err)
	}
}

// since returns the types of the events appended after the first n.
func (f *refreshFixture) since(n int) []string {
	var out []string
	for _, e := range f.log.events()[n:] {
		out = append(out, e.EventType())
	}
	return out
}

func (f *refreshFixture) refresh(client ClientCredentials, token, scope string) (TokenResponse, error) {
	return f.svc.Token(context.Background(), TokenRequest{GrantType: GrantRefreshToken, Client: client, Scope: scope,
		Form: map[string]string{"refresh_token": token}})
}

func (f *refreshFixture) family() RefreshFamily { return f.log.world.Families[famID] }

func TestRefreshTokenRules(t *testing.T) {
	reuse := []string{"RefreshTokenReuseDetected", "RefreshTokenRevoked", "AccessTokenRevoked"}
	rotation := []string{"RefreshTokenCreated", "AccessTokenCreated", "AccessTokenRevoked"}
	tests := []struct {
		name    string
		grace   time.Duration
		given   func(f *refreshFixture) []Event
		after   time.Duration // the clock moves on before the command
		slip    func(f *refreshFixture) []Event
		other   bool // the command comes from the other client
		token   string
		scope   string
		wantErr *OAuthError
		want    []string // types of the events the command appended
		revoked bool     // the family is revoked afterwards
		scopeIs string   // the granted scope, on success
	}{{
		name:  "the current token rotates",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: rt1, want: rotation, scopeIs: "read write",
	}, {
		name:  "a narrower scope is granted, the family keeps its own",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: rt1, scope: "read", want: rotation, scopeIs: "read",
	}, {
		name:  "a broader scope is invalid_scope",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: rt1, scope: "read admin", wantErr: ErrInvalidScope,
	}, {
		name:  "a * family may narrow to a catalogue scope",
		given: func(f *refreshFixture) []Event { return f.issued(WildcardScope) },
		token: rt1, scope: "write", want: rotation, scopeIs: "write",
	}, {
		name:  "a * family may not narrow to the admin scope, which * does not cover",
		given: func(f *refreshFixture) []Event { return f.issued(WildcardScope) },
		token: rt1, scope: "admin", wantErr: ErrInvalidScope,
	}, {
		name:  "a * family may not mint a scope outside the catalogue",
		given: func(f *refreshFixture) []Event { return f.issued(WildcardScope) },
		token: rt1, scope: "read root", wantErr: ErrInvalidScope,
	}, {
		name:  "a rotated token presented at once after the rotation committed is reuse",
		given: func(f *refreshFixture) []Event { return append(f.issued(), f.rotated()...) },
		token: rt1, wantErr: ErrInvalidGrant, want: reuse, revoked: true,
	}, {
		name:  "a rotated token presented a second after the rotation is reuse",
		given: func(f *refreshFixture) []Event { return append(f.issued(), f.rotated()...) },
		after: time.Second, token: rt1, wantErr: ErrInvalidGrant, want: reuse, revoked: true,
	}, {
		name:  "within the rotation grace a rotated token is refused and the family lives",
		grace: 10 * time.Second,
		given: func(f *refreshFixture) []Event { return append(f.issued(), f.rotated()...) },
		after: 9 * time.Second, token: rt1, wantErr: ErrInvalidGrant,
	}, {
		name:  "after the rotation grace a rotated token is reuse",
		grace: 10 * time.Second,
		given: func(f *refreshFixture) []Event { return append(f.issued(), f.rotated()...) },
		after: 10 * time.Second, token: rt1, wantErr: ErrInvalidGrant, want: reuse, revoked: true,
	}, {
		name:  "a request that read the family before a concurrent rotation committed lost a race",
		given: func(f *refreshFixture) []Event { return f.issued() },
		slip:  func(f *refreshFixture) []Event { return f.rotated() },
		token: rt1, wantErr: ErrInvalidGrant,
	}, {
		name:  "a request that read the family before a concurrent revocation committed",
		given: func(f *refreshFixture) []Event { return f.issued() },
		slip: func(f *refreshFixture) []Event {
			return []Event{RefreshTokenRevoked{FamilyID: famID, RefreshTokenID: "r1", ClientID: f.app.ID, UserID: f.user.ID, Reason: ReasonRevokedByUser}}
		},
		token: rt1, wantErr: ErrInvalidGrant, revoked: true,
	}, {
		name:  "the live token after reuse was detected",
		given: func(f *refreshFixture) []Event { return append(f.issued(), f.rotated()...) },
		token: rt2, slip: nil, wantErr: nil, want: rotation, scopeIs: "read write",
	}, {
		name: "a rotated token of a revoked family records the reuse only",
		given: func(f *refreshFixture) []Event {
			return append(append(f.issued(), f.rotated()...), RefreshTokenRevoked{FamilyID: famID, RefreshTokenID: "r2", ClientID: f.app.ID, UserID: f.user.ID, Reason: ReasonRevokedByClient})
		},
		token: rt1, wantErr: ErrInvalidGrant, want: []string{"RefreshTokenReuseDetected"}, revoked: true,
	}, {
		name:  "another client's token is invalid_grant and revokes nothing",
		given: func(f *refreshFixture) []Event { return append(f.issued(), f.rotated()...) },
		other: true, token: rt1, wantErr: ErrInvalidGrant,
	}, {
		name:  "an expired family",
		given: func(f *refreshFixture) []Event { return f.issued() },
		after: 31 * 24 * time.Hour, token: rt1, wantErr: ErrInvalidGrant,
	}, {
		name:  "an unknown token",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: "never-issued", wantErr: ErrInvalidGrant,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRefreshFixture(t)
			f.svc.cfg.RefreshRotationGrace = tt.grace
			f.given(t, tt.given(f)...)
			f.clock.t = f.clock.t.Add(tt.after)
			if tt.slip != nil {
				// Another instance commits between this request's read
				// of the family and its append.
				slip := tt.slip(f)
				f.log.beforeAppend = func() { f.given(t, slip...) }
			}
			n := len(f.log.events())
			client := f.app
			if tt.other {
				client = f.other
			}
			resp, err := f.refresh(client, tt.token, tt.scope)
			if tt.slip != nil {
				n += len(tt.slip(f))
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("got %v; want tokens", err)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("got %v, %+v; want %s", err, resp, tt.wantErr.Code)
			}
			if got := f.since(n); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("appended %v; want %v", got, tt.want)
			}
			if got := f.family().Revoked; got != tt.revoked {
				t.Errorf("family revoked: got %t; want %t", got, tt.revoked)
			}
			if err == nil && resp.Scope != tt.scopeIs {
				t.Errorf("got scope %q; want %q", resp.Scope, tt.scopeIs)
			}
			if err == nil && (resp.RefreshToken == "" || f.family().TokenHash != HashSecret(resp.RefreshToken)) {
				t.Errorf("the family's live token is not the one returned")
			}
			if tt.revoked && len(tt.want) == 3 {
				// Reuse revokes the family's live access token too.
				if live := f.family().AccessTokenID; !f.log.world.Tokens[live].Revoked {
					t.Errorf("the family's live access token %s survived reuse", live)
				}
			}
		})
	}
}

func TestRevokeRefreshTokens(t *testing.T) {
	tests := []struct {
		name    string
		given   func(f *refreshFixture) []Event
		other   bool
		token   string
		hint    string
		want    []string
		revoked bool   // the family is revoked afterwards
		access  string // this access token is revoked afterwards
	}{{
		name:  "the live token revokes the family and its access token",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: rt1, want: []string{"RefreshTokenRevoked", "AccessTokenRevoked"}, revoked: true, access: "a1",
	}, {
		name:  "with the refresh_token hint",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: rt1, hint: "refresh_token", want: []string{"RefreshTokenRevoked", "AccessTokenRevoked"}, revoked: true, access: "a1",
	}, {
		name:  "with the access_token hint: the hint only orders the look-ups",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: rt1, hint: "access_token", want: []string{"RefreshTokenRevoked", "AccessTokenRevoked"}, revoked: true, access: "a1",
	}, {
		name:  "a rotated-out token revokes the family and its live access token",
		given: func(f *refreshFixture) []Event { return append(f.issued(), f.rotated()...) },
		token: rt1, want: []string{"RefreshTokenRevoked", "AccessTokenRevoked"}, revoked: true, access: "a2",
	}, {
		name:  "another client's token: nothing done, no error",
		given: func(f *refreshFixture) []Event { return f.issued() },
		other: true, token: rt1,
	}, {
		name: "an already revoked family: nothing more",
		given: func(f *refreshFixture) []Event {
			return append(f.issued(), RefreshTokenRevoked{FamilyID: famID, RefreshTokenID: "r1", ClientID: f.app.ID, UserID: f.user.ID, Reason: ReasonRevokedByUser})
		},
		token: rt1, revoked: true,
	}, {
		name:  "an unknown token: nothing done, no error",
		given: func(f *refreshFixture) []Event { return f.issued() },
		token: "never-issued",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRefreshFixture(t)
			f.given(t, tt.given(f)...)
			n := len(f.log.events())
			client := f.app
			if tt.other {
				client = f.other
			}
			if err := f.svc.Revoke(context.Background(), client, tt.token, tt.hint); err != nil {
				t.Fatalf("got %v; want nil (RFC 7009 §2.2)", err)
			}
			if got := f.since(n); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("appended %v; want %v", got, tt.want)
			}
			if got := f.family().Revoked; got != tt.revoked {
				t.Errorf("family revoked: got %t; want %t", got, tt.revoked)
			}
			if tt.access != "" && !f.log.world.Tokens[tt.access].Revoked {
				t.Errorf("the access token %s is live; want revoked with the family", tt.access)
			}
			if tt.revoked {
				if _, err := f.refresh(f.app, rt1, ""); !errors.Is(err, ErrInvalidGrant) {
					t.Errorf("refresh after revocation: got %v; want invalid_grant", err)
				}
			}
		})
	}
}

// TestRevokeAccessTokenWithRefreshHint: a real access token, revoked
// with the wrong hint, is found all the same; another client's is still
// refused, as RFC 7009 §2.1 says.
func TestRevokeAccessTokenWithRefreshHint(t *testing.T) {
	ctx := context.Background()
	f := newRefreshFixture(t)
	tok, err := f.svc.Token(ctx, TokenRequest{GrantType: GrantPassword, Client: f.app, Form: map[string]string{"username": "ada@example.com", "password": "correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Revoke(ctx, f.other, tok.AccessToken, "refresh_token"); !errors.Is(err, ErrUnauthorizedClient) {
		t.Errorf("another client's access token: got %v; want unauthorized_client", err)
	}
	if err := f.svc.Revoke(ctx, f.app, tok.AccessToken, "refresh_token"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.ValidateAccessToken(ctx, tok.AccessToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("after revocation with the refresh_token hint: got %v; want revoked", err)
	}
	// The refresh token of the same response still works: revoking an
	// access token leaves its refresh token alone (RFC 7009 §2.1 "may").
	if _, err := f.refresh(f.app, tok.RefreshToken, ""); err != nil {
		t.Errorf("the refresh token after its access token was revoked: %v", err)
	}
}

func TestIntrospectRefreshTokens(t *testing.T) {
	ctx := context.Background()
	f := newRefreshFixture(t)
	f.given(t, f.issued()...)
	issuedAt := f.clock.t.UTC()

	in, err := f.svc.Introspect(ctx, f.app, rt1)
	want := Introspection{Active: true, Scope: "read write", Scopes: []string{"read", "write"}, ClientID: f.app.ID,
		TokenType: "refresh_token", Exp: issuedAt.Add(30 * 24 * time.Hour).Unix(), Iat: issuedAt.Unix(),
		Sub: f.user.ID, Iss: "https://auth.example", Jti: "r1"}
	if err != nil || fmt.Sprint(in) != fmt.Sprint(want) {
		t.Fatalf("the owner introspects its live refresh token: got %+v, %v; want %+v", in, err, want)
	}
	for _, tt := range []struct {
		name   string
		before func()
		caller ClientCredentials
		token  string
	}{
		{"another client", nil, f.other, rt1},
		{"an unknown token", nil, f.app, "never-issued"},
		{"a rotated-out token", func() { f.given(t, f.rotated()...) }, f.app, rt1},
		{"a revoked family's live token", func() {
			f.given(t, RefreshTokenRevoked{FamilyID: famID, RefreshTokenID: "r2", ClientID: f.app.ID, UserID: f.user.ID, Reason: ReasonRevokedByClient})
		}, f.app, rt2},
	} {
		if tt.before != nil {
			tt.before()
		}
		if in, err := f.svc.Introspect(ctx, tt.caller, tt.token); err != nil || fmt.Sprint(in) != fmt.Sprint(Introspection{Active: false}) {
			t.Errorf("%s: got %+v, %v; want only active false", tt.name, in, err)
		}
	}

	// Expiry, and the user's deletion, end a live family's token too.
	g := newRefreshFixture(t)
	g.given(t, g.issued()...)
	if in, _ := g.svc.Introspect(ctx, g.app, rt1); !in.Active {
		t.Fatalf("a live token: got inactive")
	}
	g.clock.t = g.clock.t.Add(30*24*time.Hour + time.Second)
	if in, _ := g.svc.Introspect(ctx, g.app, rt1); in.Active {
		t.Errorf("an expired family: got active")
	}
	g.clock.t = g.clock.t.Add(-time.Hour)
	if err := g.svc.DeleteUser(ctx, Actor{Kind: ActorCLI}, g.user.ID); err != nil {
		t.Fatal(err)
	}
	if in, _ := g.svc.Introspect(ctx, g.app, rt1); in.Active {
		t.Errorf("a deleted user's token: got active")
	}
}

func TestRefreshRotationGraceIsBounded(t *testing.T) {
	for _, tt := range []struct {
		grace time.Duration
		ok    bool
	}{{0, true}, {5 * time.Second, true}, {MaxRefreshRotationGrace, true}, {-time.Second, false}, {MaxRefreshRotationGrace + time.Second, false}} {
		c := Config{Issuer: "https://auth.example", Lifetimes: Lifetimes{AccessToken: time.Hour}, RefreshRotationGrace: tt.grace}
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("grace %v: got %v; want ok=%t", tt.grace, err, tt.ok)
		}
		if tt.ok && c.RefreshRotationGrace != tt.grace {
			t.Errorf("grace %v: Validate changed it to %v", tt.grace, c.RefreshRotationGrace)
		}
	}
}
