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
// Presenting a rotated-out token of a family is reuse: the family is
// revoked with its live access token (RefreshTokenReuseDetected, then the
// revocations, one atomic append). Two concurrent uses of one live token
// race on the family's last sequence: exactly one append wins, and the
// others are invalid_grant without being taken for reuse, as is a loser
// that only reads the family after the winner rotated it, within
// RefreshReuseGrace of the rotation.
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
	bad := ErrInvalidGrant.WithDescription("the refresh token is invalid, expired or revoked")
	hash := HashSecret(presented)
	f, err := s.ports.Grants.RefreshFamilyByTokenHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return TokenResponse{}, bad
	}
	if err != nil {
		return TokenResponse{}, err
	}
	if f.ClientID != c.ID {
		return TokenResponse{}, bad
	}
	now := s.cfg.Now()
	if f.TokenHash != hash {
		// A rotated-out token. Within the grace period after its rotation
		// it is a concurrent use that lost the race; after it, reuse (RFC
		// 9700 §4.14.2), and the family goes.
		if r := rotatedToken(f, hash); now.Sub(r.RotatedAt) < s.cfg.RefreshReuseGrace {
			return TokenResponse{}, ErrInvalidGrant.WithDescription("the refresh token was used concurrently")
		}
		if err := s.revokeFamilyForReuse(ctx, f, hash); err != nil {
			return TokenResponse{}, err
		}
		return TokenResponse{}, bad
	}
	if !f.Live(now) {
		return TokenResponse{}, bad
	}
	if !c.Exists() || s.userGone(ctx, f.UserID) {
		return TokenResponse{}, bad
	}
	scopes := f.Scopes
	if req.Scope != "" {
		narrower := ParseScope(req.Scope)
		for _, sc := range narrower {
			if !contains(f.Scopes, sc) && !contains(f.Scopes, WildcardScope) {
				return TokenResponse{}, ErrInvalidScope.WithDescription("the scope %q was not granted to this refresh token", sc)
			}
		}
		scopes = sortedCopy(narrower)
	}
	resources, err := decideResources(c, req.Form["resource"], f.Resources)
	if err != nil {
		return TokenResponse{}, err
	}
	raw, at, err := s.mintAccessFor(c, f.UserID, GrantRefreshToken, "", scopes, resources, s.cfg.AccessToken)
	if err != nil {
		return TokenResponse{}, err
	}
	rt, rc, err := s.mintRefresh(f.ID, f.TokenID, at)
	if err != nil {
		return TokenResponse{}, err
	}
	rc.Scopes = f.Scopes       // a narrower access token does not narrow the family
	rc.Resources = f.Resources // nor do narrower resources (RFC 8707 §2.2)
	events := []Event{rc, at}
	if f.AccessTokenID != "" {
		events = append(events, AccessTokenRevoked{TokenID: f.AccessTokenID, ClientID: f.ClientID, UserID: f.UserID, ExpiresAt: f.IssuedAt.Add(s.cfg.AccessToken), Reason: ReasonRotated})
	}
	_, err = s.record(ctx, ExpectSeq(f.Seq), actorFor(c.ID, f.UserID), events...)
	if errors.Is(err, ErrConflict) {
		return TokenResponse{}, ErrInvalidGrant.WithDescription("the refresh token was used concurrently")
	}
	if err != nil {
		return TokenResponse{}, err
	}
	return TokenResponse{AccessToken: raw, TokenType: "Bearer", ExpiresIn: int64(s.cfg.AccessToken.Seconds()), RefreshToken: rt, Scope: FormatScope(scopes)}, nil
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
