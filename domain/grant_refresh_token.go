package domain

import (
	"context"
	"errors"
	"io"
	"time"
)

// The refresh token grant (RFC 6749 §6) with rotation (RFC 9700
// §4.14.2): the presented token is replaced by a new one in the same
// family, a new access token is issued and the old access token revoked
// (as Passport does). A narrower scope may be asked for; a broader one is
// invalid_scope (§6). Likewise a resource parameter (RFC 8707 §2.2) may
// narrow the family's resources; another one is invalid_target.
//
// Reuse detection is decided on the family state this request read, at
// sequence S, with no wall-clock window (RFC 9700 §4.14.2, §2.2.2):
//
//   - the presented token is the family's current one: the rotation is
//     appended expecting S. When that conflicts, the family is reloaded
//     from the log and decided on again (refreshState.Reloaded); if a
//     commit after S rotated the token, this request read the family
//     before the rotation was committed and lost a race with a
//     concurrent use: invalid_grant, and the family lives on. Exactly one
//     of many concurrent uses wins.
//   - the presented token was already rotated out in the state read: the
//     rotation was committed before this request looked, so this is reuse
//     (RefreshTokenReuseDetected, then the revocations of the family and
//     its live access token, one atomic append), and invalid_grant.
//     Config.RefreshRotationGrace, when set, answers invalid_grant without
//     revoking while the rotation is younger than the grace.

// errBadRefresh is the answer to a refresh token that is unknown, another
// client's, expired, revoked or reused: one answer for all, so nothing
// about the token leaks.
var errBadRefresh = ErrInvalidGrant.WithDescription("the refresh token is invalid, expired or revoked")

// errRefreshRace answers a request that lost a race with a concurrent use
// of the same refresh token.
var errRefreshRace = ErrInvalidGrant.WithDescription("the refresh token was used concurrently")

// refreshState is what the refresh decision decides on: the
// authenticated client, the family the presented token's hash found
// (Found), whether its user is gone, the scope catalogue, the issuer's
// terms and the rotation grace.
type refreshState struct {
	Client Client
	Family RefreshFamily
	Found  bool
	// Reloaded is set when Family was reloaded from the log after this
	// request's append conflicted: the presented token was the current
	// one in what this request first read.
	Reloaded bool
	UserGone bool
	Scopes   *Scopes
	Issuer   issuerTerms
	Grace    time.Duration
}

// refreshCommand is a refresh request (RFC 6749 §6): the hash of the
// presented token ("" when none was), the scope and resource parameters.
type refreshCommand struct {
	TokenHash string
	Scope     string
	Resource  string
}

// checkRefreshRequest checks what a refresh request is refused for before
// any family is looked up: a client without the grant
// (unauthorized_client), no refresh_token parameter (invalid_request).
func checkRefreshRequest(c Client, cmd refreshCommand) error {
	if !c.HasGrant(GrantRefreshToken) {
		return ErrUnauthorizedClient.WithDescription("the client may not use the refresh_token grant")
	}
	if cmd.TokenHash == "" {
		return ErrInvalidRequest.WithDescription("the refresh_token parameter is missing")
	}
	return nil
}

// decideRefresh decides a refresh request on the family state read.
// Errors: unauthorized_client for a client without the grant;
// invalid_grant for an unknown token, another client's, a lost race, a
// rotated-out token within the grace, an expired or revoked family or a
// deleted user; invalid_scope, invalid_target. Reuse is a decision with
// events (the reuse and the revocations) and Answer invalid_grant.
func decideRefresh(st refreshState, cmd refreshCommand, now time.Time, rnd io.Reader) (tokenDecision, error) {
	c, f := st.Client, st.Family
	if err := checkRefreshRequest(c, cmd); err != nil {
		return tokenDecision{}, err
	}
	if !st.Found || f.ClientID != c.ID {
		return tokenDecision{}, errBadRefresh
	}
	if f.TokenHash != cmd.TokenHash {
		if st.Reloaded {
			// Rotated by a commit after the state this request read.
			return tokenDecision{}, errRefreshRace
		}
		return decideRotatedOut(st, cmd.TokenHash, now)
	}
	if !f.Live(now) || !c.Exists() || st.UserGone {
		return tokenDecision{}, errBadRefresh
	}
	scopes, err := decideRefreshScopes(st, cmd.Scope)
	if err != nil {
		return tokenDecision{}, err
	}
	resources, err := decideResources(c, cmd.Resource, f.Resources)
	if err != nil {
		return tokenDecision{}, err
	}
	set, err := decideTokenSet(st.Issuer, accessTerms{Client: c, UserID: f.UserID, Grant: GrantRefreshToken, Scopes: scopes, Resources: resources, TTL: st.Issuer.AccessToken}, false, now, rnd)
	if err != nil {
		return tokenDecision{}, err
	}
	rt, rc, err := decideRefreshToken(f.ID, f.TokenID, set.Access, st.Issuer.RefreshToken, rnd)
	if err != nil {
		return tokenDecision{}, err
	}
	rc.Scopes = f.Scopes       // a narrower access token does not narrow the family
	rc.Resources = f.Resources // nor do narrower resources (RFC 8707 §2.2)
	set.Refresh, set.RefreshToken, set.Response.RefreshToken = &rc, rt, rt
	events := []Event{rc, set.Access}
	if f.AccessTokenID != "" {
		events = append(events, AccessTokenRevoked{TokenID: f.AccessTokenID, ClientID: f.ClientID, UserID: f.UserID, ExpiresAt: f.IssuedAt.Add(st.Issuer.AccessToken), Reason: ReasonRotated})
	}
	return tokenDecision{Events: events, Expect: ExpectSeq(f.Seq), Actor: actorFor(c.ID, f.UserID), Tokens: &set}, nil
}

// decideRefreshScopes returns the scopes of the new access token: the
// family's when scope is empty, else scope, which must be within the
// family's (invalid_scope); a "*" family covers the catalogue, not any
// word (RFC 6749 §3.3).
func decideRefreshScopes(st refreshState, scope string) ([]string, error) {
	f := st.Family
	if scope == "" {
		return f.Scopes, nil
	}
	narrower := ParseScope(scope)
	for _, sc := range narrower {
		if contains(f.Scopes, sc) {
			continue
		}
		if !contains(f.Scopes, WildcardScope) {
			return nil, ErrInvalidScope.WithDescription("the scope %q was not granted to this refresh token", sc)
		}
		if _, err := st.Scopes.Resolve([]string{sc}, true, st.Client.Scopes); err != nil {
			return nil, err
		}
	}
	return sortedCopy(narrower), nil
}

// decideRotatedOut decides a token the family had already rotated out in
// the state read: reuse, which records RefreshTokenReuseDetected and
// revokes the family with its live access token in one append expecting
// the state read, unless the rotation is younger than the grace
// (invalid_grant, nothing recorded). A family already revoked records the
// reuse only; one whose reuse was recorded records nothing more.
func decideRotatedOut(st refreshState, hash string, now time.Time) (tokenDecision, error) {
	f := st.Family
	rotated := rotatedToken(f, hash)
	if st.Grace > 0 && now.Sub(rotated.RotatedAt) < st.Grace {
		return tokenDecision{}, ErrInvalidGrant.WithDescription("the refresh token was rotated moments ago")
	}
	d := tokenDecision{Expect: ExpectSeq(f.Seq), Actor: Actor{Kind: ActorSystem, ID: "reuse-detection"}, Answer: errBadRefresh}
	if f.Revoked && f.ReuseDetected {
		return d, nil
	}
	d.Events = []Event{RefreshTokenReuseDetected{FamilyID: f.ID, RefreshTokenID: rotated.ID, ClientID: f.ClientID, UserID: f.UserID}}
	if !f.Revoked {
		d.Events = append(d.Events, RefreshTokenRevoked{FamilyID: f.ID, RefreshTokenID: f.TokenID, ClientID: f.ClientID, UserID: f.UserID, Reason: ReasonReuseDetected})
		if f.AccessTokenID != "" {
			d.Events = append(d.Events, AccessTokenRevoked{TokenID: f.AccessTokenID, ClientID: f.ClientID, UserID: f.UserID, ExpiresAt: f.IssuedAt.Add(st.Issuer.AccessToken), Reason: ReasonReuseDetected})
		}
	}
	return d, nil
}

// refreshToken answers a refresh request of the authenticated client c:
// it loads the family the presented token's hash names (from the read
// model, caught up if it does not know it) and its user, decides
// (decideRefresh) and issues. An append that conflicts reloads the family
// from the log and decides again; one that still conflicts after
// maxAttempts is a lost race.
func (s *Service) refreshToken(ctx context.Context, call grantCall) (TokenResponse, error) {
	c, req, is, signer := call.Client, call.Req, call.Issuer, call.Signer
	cmd := refreshCommand{Scope: req.Scope, Resource: req.Form["resource"]}
	if presented := req.Form["refresh_token"]; presented != "" {
		cmd.TokenHash = HashSecret(presented)
	}
	if err := checkRefreshRequest(c, cmd); err != nil {
		return TokenResponse{}, err
	}
	st := refreshState{Client: c, Scopes: s.cfg.Scopes, Issuer: is, Grace: s.cfg.RefreshRotationGrace}
	f, err := lookupFresh(ctx, s, func(ctx context.Context) (RefreshFamily, error) {
		return s.ports.Grants.RefreshFamilyByTokenHash(ctx, cmd.TokenHash)
	})
	switch {
	case err == nil:
		st.Family, st.Found = f, true
	case !errors.Is(err, ErrNotFound):
		return TokenResponse{}, err
	}
	var resp TokenResponse
	err = retry(ctx, func() error {
		if st.Found && st.Family.ClientID == c.ID && st.Family.TokenHash == cmd.TokenHash {
			st.UserGone = s.userGone(ctx, st.Family.UserID)
		}
		d, err := decideRefresh(st, cmd, s.cfg.Now(), s.cfg.Random)
		if err != nil {
			return err
		}
		resp, err = s.issue(ctx, signer, d)
		if errors.Is(err, ErrConflict) {
			f, lerr := load(ctx, s.ports.Log, Aggregate{KindRefresh, st.Family.ID}, ApplyRefreshFamily)
			if lerr != nil {
				return lerr
			}
			// A rotation that conflicted decides again on the reloaded
			// family; a reuse detection decides reuse again.
			st.Family, st.Reloaded = f, st.Reloaded || d.Tokens != nil
		}
		return err
	})
	if errors.Is(err, ErrConflict) {
		return TokenResponse{}, errRefreshRace
	}
	if err != nil {
		return TokenResponse{}, err
	}
	return resp, nil
}

// rotatedToken returns the rotated-out token whose hash came back.
func rotatedToken(f RefreshFamily, hash string) RotatedToken {
	for _, r := range f.Rotated {
		if r.Hash == hash {
			return r
		}
	}
	return RotatedToken{}
}

func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	sortStrings(out)
	return out
}
