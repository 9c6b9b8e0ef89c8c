package domain

import (
	"context"
	"errors"
)

// refreshToken implements the refresh token grant (RFC 6749 §6) with
// rotation (RFC 9700 §4.14.2): the presented token is replaced by a new
// one in the same family, a new access token is issued and the old access
// token revoked (as Passport does). A narrower scope may be asked for; a
// broader one is invalid_scope. Likewise a resource parameter (RFC 8707
// §2.2) may narrow the family's resources; another one is invalid_target.
//
// Reuse detection is decided on the family state this request read, at
// sequence S, with no wall-clock window (RFC 9700 §4.14.2, §2.2.2):
//
//   - the presented token is the family's current one: the rotation is
//     appended expecting S. When that conflicts, the family is reloaded
//     from the log; if a commit after S rotated the token, this request
//     read the family before the rotation was committed and lost a race
//     with a concurrent use: invalid_grant, and the family lives on.
//     Exactly one of many concurrent uses wins.
//   - the presented token was already rotated out in the state read: the
//     rotation was committed before this request looked, so this is reuse
//     (RefreshTokenReuseDetected, then the revocations of the family and
//     its live access token, one atomic append), and invalid_grant.
//     Config.RefreshRotationGrace, when set, answers invalid_grant without
//     revoking while the rotation is younger than the grace.
func (s *Service) refreshToken(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	c, err := s.AuthenticateClient(ctx, req.Client)
	if err != nil {
		return TokenResponse{}, err
	}
	if !c.HasGrant(GrantRefreshToken) {
		return TokenResponse{}, ErrUnauthorizedClient.WithDescription("the client may not use the refresh_token grant")
	}
	presented := req.Form["refresh_token"]
	if presented == "" {
		return TokenResponse{}, ErrInvalidRequest.WithDescription("the refresh_token parameter is missing")
	}
	hash := HashSecret(presented)
	f, err := lookupFresh(ctx, s, func(ctx context.Context) (RefreshFamily, error) {
		return s.ports.Grants.RefreshFamilyByTokenHash(ctx, hash)
	})
	if errors.Is(err, ErrNotFound) {
		return TokenResponse{}, errBadRefresh
	}
	if err != nil {
		return TokenResponse{}, err
	}
	if f.ClientID != c.ID {
		return TokenResponse{}, errBadRefresh
	}
	if f.TokenHash != hash {
		return TokenResponse{}, s.rotatedOut(ctx, f, hash)
	}
	var resp TokenResponse
	err = retry(ctx, func() error {
		if f.TokenHash != hash {
			// Rotated by a commit after the state this request read.
			return ErrInvalidGrant.WithDescription("the refresh token was used concurrently")
		}
		r, events, err := s.decideRefresh(ctx, c, f, req.Scope, req.Form["resource"])
		if err != nil {
			return err
		}
		_, err = s.record(ctx, ExpectSeq(f.Seq), actorFor(c.ID, f.UserID), events...)
		if errors.Is(err, ErrConflict) {
			var lerr error
			if f, lerr = load(ctx, s.ports.Log, Aggregate{KindRefresh, f.ID}, ApplyRefreshFamily); lerr != nil {
				return lerr
			}
		}
		if err == nil {
			resp = r
		}
		return err
	})
	if errors.Is(err, ErrConflict) {
		return TokenResponse{}, ErrInvalidGrant.WithDescription("the refresh token was used concurrently")
	}
	if err != nil {
		return TokenResponse{}, err
	}
	return resp, nil
}

// errBadRefresh is the answer to a refresh token that is unknown, another
// client's, expired, revoked or reused: one answer for all, so nothing
// about the token leaks.
var errBadRefresh = ErrInvalidGrant.WithDescription("the refresh token is invalid, expired or revoked")

// decideRefresh checks that f's current token may be used now, with the
// scope asked for (empty: the family's), and mints its successor. It
// returns the response and the events of the rotation: the new refresh
// token, the new access token and the revocation of the one it replaces.
func (s *Service) decideRefresh(ctx context.Context, c Client, f RefreshFamily, scope, resource string) (TokenResponse, []Event, error) {
	if !f.Live(s.cfg.Now()) || !c.Exists() || s.userGone(ctx, f.UserID) {
		return TokenResponse{}, nil, errBadRefresh
	}
	scopes := f.Scopes
	if scope != "" {
		narrower := ParseScope(scope)
		for _, sc := range narrower {
			if contains(f.Scopes, sc) {
				continue
			}
			if !contains(f.Scopes, WildcardScope) {
				return TokenResponse{}, nil, ErrInvalidScope.WithDescription("the scope %q was not granted to this refresh token", sc)
			}
			// "*" covers the catalogue, not any word (RFC 6749 §3.3).
			if _, err := s.cfg.Scopes.Resolve([]string{sc}, true, c.Scopes); err != nil {
				return TokenResponse{}, nil, err
			}
		}
		scopes = sortedCopy(narrower)
	}
	resources, err := decideResources(c, resource, f.Resources)
	if err != nil {
		return TokenResponse{}, nil, err
	}
	raw, at, err := s.mintAccessFor(c, f.UserID, GrantRefreshToken, "", scopes, resources, s.cfg.AccessToken)
	if err != nil {
		return TokenResponse{}, nil, err
	}
	rt, rc, err := s.mintRefresh(f.ID, f.TokenID, at)
	if err != nil {
		return TokenResponse{}, nil, err
	}
	rc.Scopes = f.Scopes       // a narrower access token does not narrow the family
	rc.Resources = f.Resources // nor do narrower resources (RFC 8707 §2.2)
	events := []Event{rc, at}
	if f.AccessTokenID != "" {
		events = append(events, AccessTokenRevoked{TokenID: f.AccessTokenID, ClientID: f.ClientID, UserID: f.UserID, ExpiresAt: f.IssuedAt.Add(s.cfg.AccessToken), Reason: ReasonRotated})
	}
	resp := TokenResponse{AccessToken: raw, TokenType: "Bearer", ExpiresIn: int64(s.cfg.AccessToken.Seconds()), RefreshToken: rt, Scope: FormatScope(scopes)}
	return resp, events, nil
}

// rotatedOut answers a token that f had already rotated out when it was
// read: reuse, which revokes the family, unless the rotation is younger
// than Config.RefreshRotationGrace. It returns the error to answer.
func (s *Service) rotatedOut(ctx context.Context, f RefreshFamily, hash string) error {
	if g := s.cfg.RefreshRotationGrace; g > 0 && s.cfg.Now().Sub(rotatedToken(f, hash).RotatedAt) < g {
		return ErrInvalidGrant.WithDescription("the refresh token was rotated moments ago")
	}
	if err := s.revokeFamilyForReuse(ctx, f, hash); err != nil {
		return err
	}
	return errBadRefresh
}

// revokeFamilyForReuse records the reuse of a rotated-out token and revokes
// the family with its live access token, in one append.
func (s *Service) revokeFamilyForReuse(ctx context.Context, f RefreshFamily, hash string) error {
	return retry(ctx, func() error {
		if f.Revoked && f.ReuseDetected {
			return nil
		}
		events := []Event{RefreshTokenReuseDetected{FamilyID: f.ID, RefreshTokenID: rotatedToken(f, hash).ID, ClientID: f.ClientID, UserID: f.UserID}}
		if !f.Revoked {
			events = append(events, RefreshTokenRevoked{FamilyID: f.ID, RefreshTokenID: f.TokenID, ClientID: f.ClientID, UserID: f.UserID, Reason: ReasonReuseDetected})
			if f.AccessTokenID != "" {
				events = append(events, AccessTokenRevoked{TokenID: f.AccessTokenID, ClientID: f.ClientID, UserID: f.UserID, ExpiresAt: f.IssuedAt.Add(s.cfg.AccessToken), Reason: ReasonReuseDetected})
			}
		}
		_, err := s.record(ctx, ExpectSeq(f.Seq), Actor{Kind: ActorSystem, ID: "reuse-detection"}, events...)
		if errors.Is(err, ErrConflict) {
			var lerr error
			if f, lerr = load(ctx, s.ports.Log, Aggregate{KindRefresh, f.ID}, ApplyRefreshFamily); lerr != nil {
				return lerr
			}
		}
		return err
	})
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

// userGone reports whether a token's user no longer exists.
func (s *Service) userGone(ctx context.Context, userID string) bool {
	if userID == "" || s.ports.Users == nil {
		return false
	}
	u, err := s.ports.Users.User(ctx, userID)
	return err != nil || !u.Exists()
}

func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	sortStrings(out)
	return out
}
