package domain

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestDecideRefresh: RFC 6749 §6, RFC 9700 §4.14.2's rotation and reuse
// detection, and RFC 8707 §2.2 as a table: given the family as read,
// when a refresh request, then the rotation, the reuse detection, or the
// error. The rows of the whole grant (through the log, with concurrent
// commits slipped in) are TestRefreshTokenRules.
func TestDecideRefresh(t *testing.T) {
	const apiA, apiB = "https://a.example", "https://b.example"
	app := Client{ID: "app", SecretHash: "h", Grants: []string{GrantPassword, GrantRefreshToken}, Audiences: []string{apiA, apiB}}
	noGrant := Client{ID: "app", SecretHash: "h", Grants: []string{GrantPassword}}
	other := Client{ID: "other", SecretHash: "h", Grants: []string{GrantRefreshToken}}
	t0 := decisionNow().Add(-time.Hour)
	created := func(id, parent, raw, access string, scopes, resources []string) RefreshTokenCreated {
		return RefreshTokenCreated{FamilyID: "fam", RefreshTokenID: id, ParentID: parent, TokenHash: HashSecret(raw), AccessTokenID: access,
			ClientID: "app", UserID: "u1", Scopes: scopes, Resources: resources, IssuedAt: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour)}
	}
	// family folds the family's events: rt1 issued at t0 (seq 1), then
	// each of more at t0 + its seq minutes.
	family := func(scopes, resources []string, more ...Event) RefreshFamily {
		f := ApplyRefreshFamily(RefreshFamily{}, created("r1", "", "rt1", "a1", scopes, resources), 1, t0)
		for i, e := range more {
			f = ApplyRefreshFamily(f, e, uint64(i+2), t0.Add(time.Duration(i+1)*time.Minute))
		}
		return f
	}
	rw := []string{"read", "write"}
	rotation := created("r2", "r1", "rt2", "a2", rw, nil)
	revoked := RefreshTokenRevoked{FamilyID: "fam", RefreshTokenID: "r2", Reason: ReasonRevokedByClient}
	rotationEvents := []string{"RefreshTokenCreated", "AccessTokenCreated", "AccessTokenRevoked"}
	reuse := []string{"RefreshTokenReuseDetected", "RefreshTokenRevoked", "AccessTokenRevoked"}
	rotatedAt := t0.Add(time.Minute)

	tests := []struct {
		name      string
		st        refreshState
		cmd       refreshCommand
		now       time.Time
		wantErr   error
		want      []string
		wantScope string
		wantAud   []string
	}{{
		name: "§6: the current token rotates", st: refreshState{Client: app, Family: family(rw, nil), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, want: rotationEvents, wantScope: "read write", wantAud: []string{"app"},
	}, {
		name: "§6: a narrower scope is granted, the family keeps its own", st: refreshState{Client: app, Family: family(rw, nil), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1"), Scope: "read"}, want: rotationEvents, wantScope: "read", wantAud: []string{"app"},
	}, {
		name: "§6: a broader scope is invalid_scope", st: refreshState{Client: app, Family: family(rw, nil), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1"), Scope: "read admin"}, wantErr: ErrInvalidScope,
	}, {
		name: "§3.3: a * family may narrow to a catalogue scope", st: refreshState{Client: app, Family: family([]string{WildcardScope}, nil), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1"), Scope: "write"}, want: rotationEvents, wantScope: "write", wantAud: []string{"app"},
	}, {
		name: "§3.3: a * family may not narrow to the admin scope, which * does not cover", st: refreshState{Client: app, Family: family([]string{WildcardScope}, nil), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1"), Scope: "admin"}, wantErr: ErrInvalidScope,
	}, {
		name: "§3.3: a * family may not mint a scope outside the catalogue", st: refreshState{Client: app, Family: family([]string{WildcardScope}, nil), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1"), Scope: "read root"}, wantErr: ErrInvalidScope,
	}, {
		name: "RFC 8707 §2.2: a resource narrows the token, not the family", st: refreshState{Client: app, Family: family(rw, []string{apiA, apiB}), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1"), Resource: apiA}, want: rotationEvents, wantScope: "read write", wantAud: []string{apiA},
	}, {
		name: "RFC 8707 §2.2: no resource keeps the family's", st: refreshState{Client: app, Family: family(rw, []string{apiA, apiB}), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, want: rotationEvents, wantScope: "read write", wantAud: []string{apiA, apiB},
	}, {
		name: "RFC 8707 §2.2: a resource outside the family's is invalid_target", st: refreshState{Client: app, Family: family(rw, []string{apiA}), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1"), Resource: apiB}, wantErr: ErrInvalidTarget,
	}, {
		name: "RFC 9700 §4.14.2: a token rotated out in the state read is reuse", st: refreshState{Client: app, Family: family(rw, nil, rotation), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, now: rotatedAt, wantErr: ErrInvalidGrant, want: reuse,
	}, {
		name: "reuse a second after the rotation", st: refreshState{Client: app, Family: family(rw, nil, rotation), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, now: rotatedAt.Add(time.Second), wantErr: ErrInvalidGrant, want: reuse,
	}, {
		name: "within the rotation grace a rotated token is refused and the family lives", st: refreshState{Client: app, Family: family(rw, nil, rotation), Found: true, Grace: 10 * time.Second},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, now: rotatedAt.Add(9 * time.Second), wantErr: ErrInvalidGrant,
	}, {
		name: "after the rotation grace a rotated token is reuse", st: refreshState{Client: app, Family: family(rw, nil, rotation), Found: true, Grace: 10 * time.Second},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, now: rotatedAt.Add(10 * time.Second), wantErr: ErrInvalidGrant, want: reuse,
	}, {
		name: "rotated by a commit after the state read (reloaded on conflict): a lost race, not reuse", st: refreshState{Client: app, Family: family(rw, nil, rotation), Found: true, Reloaded: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, wantErr: ErrInvalidGrant,
	}, {
		name: "reloaded on conflict and still current: rotates", st: refreshState{Client: app, Family: family(rw, nil), Found: true, Reloaded: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, want: rotationEvents, wantScope: "read write", wantAud: []string{"app"},
	}, {
		name: "revoked by a commit after the state read", st: refreshState{Client: app, Family: family(rw, nil, RefreshTokenRevoked{FamilyID: "fam", RefreshTokenID: "r1"}), Found: true, Reloaded: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, wantErr: ErrInvalidGrant,
	}, {
		name: "the live token after a rotation rotates", st: refreshState{Client: app, Family: family(rw, nil, rotation), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt2")}, want: rotationEvents, wantScope: "read write", wantAud: []string{"app"},
	}, {
		name: "a rotated token of a revoked family records the reuse only", st: refreshState{Client: app, Family: family(rw, nil, rotation, revoked), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, wantErr: ErrInvalidGrant, want: []string{"RefreshTokenReuseDetected"},
	}, {
		name: "a reuse already recorded records nothing more", st: refreshState{Client: app, Family: family(rw, nil, rotation, revoked, RefreshTokenReuseDetected{FamilyID: "fam", RefreshTokenID: "r1"}), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, wantErr: ErrInvalidGrant,
	}, {
		name: "another client's token is invalid_grant and revokes nothing", st: refreshState{Client: other, Family: family(rw, nil, rotation), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, wantErr: ErrInvalidGrant,
	}, {
		name: "an expired family", st: refreshState{Client: app, Family: family(rw, nil), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, now: t0.Add(30 * 24 * time.Hour), wantErr: ErrInvalidGrant,
	}, {
		name: "a revoked family's live token", st: refreshState{Client: app, Family: family(rw, nil, rotation, revoked), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt2")}, wantErr: ErrInvalidGrant,
	}, {
		name: "a deleted user's family", st: refreshState{Client: app, Family: family(rw, nil), Found: true, UserGone: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, wantErr: ErrInvalidGrant,
	}, {
		name: "an unknown token", st: refreshState{Client: app},
		cmd: refreshCommand{TokenHash: HashSecret("never-issued")}, wantErr: ErrInvalidGrant,
	}, {
		name: "§5.2: a client without the grant", st: refreshState{Client: noGrant, Family: family(rw, nil), Found: true},
		cmd: refreshCommand{TokenHash: HashSecret("rt1")}, wantErr: ErrUnauthorizedClient,
	}, {
		name: "§6: no refresh_token parameter", st: refreshState{Client: app},
		cmd: refreshCommand{}, wantErr: ErrInvalidRequest,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			st.Scopes, st.Issuer = testCatalogue(t), testIssuer()
			now := tt.now
			if now.IsZero() {
				now = decisionNow()
			}
			d, err := decideRefresh(st, tt.cmd, now, rand.Reader)
			checkOutcome(t, d, err, tt.wantErr, tt.want)
			f := st.Family
			if len(d.Events) > 0 && d.Expect != ExpectSeq(f.Seq) {
				t.Errorf("appends with %+v; want the family as read, %d", d.Expect, f.Seq)
			}
			if tt.wantErr != nil {
				if len(d.Events) > 0 && d.Actor != (Actor{Kind: ActorSystem, ID: "reuse-detection"}) {
					t.Errorf("reuse recorded as %+v", d.Actor)
				}
				if len(d.Events) == 3 {
					// Reuse revokes the family's live token and access token.
					rr, ar := d.Events[1].(RefreshTokenRevoked), d.Events[2].(AccessTokenRevoked)
					if rr.RefreshTokenID != f.TokenID || ar.TokenID != f.AccessTokenID || ar.Reason != ReasonReuseDetected {
						t.Errorf("reuse revoked %+v and %+v; want the live %s and %s", rr, ar, f.TokenID, f.AccessTokenID)
					}
				}
				return
			}
			set := d.Tokens
			rc, at, old := d.Events[0].(RefreshTokenCreated), d.Events[1].(AccessTokenCreated), d.Events[2].(AccessTokenRevoked)
			if set.Response.Scope != tt.wantScope || !slices.Equal(set.Claims.Audience, tt.wantAud) || set.Response.RefreshToken == "" ||
				rc.TokenHash != HashSecret(set.Response.RefreshToken) {
				t.Errorf("got %+v with aud %v; want scope %q, aud %v and the new refresh token", set.Response, set.Claims.Audience, tt.wantScope, tt.wantAud)
			}
			if rc.FamilyID != f.ID || rc.ParentID != f.TokenID || !slices.Equal(rc.Scopes, f.Scopes) || !slices.Equal(rc.Resources, f.Resources) || rc.AccessTokenID != at.TokenID {
				t.Errorf("rotation %+v; want the family's next token, with its scopes and resources", rc)
			}
			if old.TokenID != f.AccessTokenID || old.Reason != ReasonRotated {
				t.Errorf("revoked %+v; want the replaced access token %s", old, f.AccessTokenID)
			}
			if d.Actor != (Actor{Kind: ActorUser, ID: "u1"}) {
				t.Errorf("recorded as %+v; want the user", d.Actor)
			}
		})
	}
}

// The refresh token rules through the whole grant, as table tests: given
// events in the log, when a command, then the events it appended, or its
// error.

// The family of the fixtures: rt1 issued with access token a1; rotation
// replaces them by rt2 and a2.
const (
	famID = "fam-1"
	rt1   = "refresh-token-one"
	rt2   = "refresh-token-two"
)

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

// TestConcurrentRefreshExactlyOneWins races 16 uses of one refresh token,
// many times: exactly one gets tokens, the others invalid_grant, and the
// winner's tokens stay valid. The log holds the appends until all 16 have
// read the family, so every loser read it before the winner's rotation
// was committed: a lost race, not reuse.
func TestConcurrentRefreshExactlyOneWins(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	h.user(t, "ada@example.com")
	c, secret := h.client(t, RegisterClient{Name: "app", Grants: []string{GrantPassword, GrantRefreshToken}})
	cred := ClientCredentials{ID: c.ID, Secret: secret}
	tok, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantPassword, Client: cred, Form: map[string]string{"username": "ada@example.com", "password": "correct horse"}})
	if err != nil {
		t.Fatal(err)
	}
	rt := tok.RefreshToken
	for round := range 20 {
		h.log.readGate = newGate(16)
		var wg sync.WaitGroup
		results := make(chan TokenResponse, 16)
		errs := make(chan error, 16)
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantRefreshToken, Client: cred, Form: map[string]string{"refresh_token": rt}})
				if err != nil {
					errs <- err
					return
				}
				results <- r
			}()
		}
		wg.Wait()
		h.log.readGate = nil
		close(results)
		close(errs)
		if len(results) != 1 {
			t.Fatalf("round %d: %d requests got tokens; want exactly 1", round, len(results))
		}
		for err := range errs {
			if !errors.Is(err, ErrInvalidGrant) {
				t.Fatalf("round %d: a loser got %v; want invalid_grant", round, err)
			}
		}
		won := <-results
		if _, _, err := h.svc.ValidateAccessToken(ctx, won.AccessToken); err != nil {
			t.Fatalf("round %d: the winner's token: %v", round, err)
		}
		rt = won.RefreshToken
	}
}
