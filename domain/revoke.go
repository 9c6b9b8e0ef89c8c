package domain

import (
	"context"
	"errors"
	"fmt"
)

// Revoke implements RFC 7009 for an authenticated client: the token is
// revoked if it is an access token this client holds. An invalid,
// unknown, expired or already revoked token is not an error (§2.2: the
// answer is 200 either way). A token issued to another client is
// ErrUnauthorizedClient (§2.1: "the request is refused"). hint
// ("access_token", "refresh_token" or "") only orders the look-ups.
func (s *Service) Revoke(ctx context.Context, caller ClientCredentials, token, hint string) error {
	c, err := s.AuthenticateClient(ctx, caller)
	if err != nil {
		return err
	}
	if token == "" {
		return ErrInvalidRequest.WithDescription("the token parameter is missing")
	}
	switch hint {
	case "", "access_token", "refresh_token":
	default:
		return ErrUnsupportedTokenType.WithDescription("the token type %q is not supported", hint)
	}
	now := s.cfg.Now()
	keys, err := s.verificationKeys(ctx, now)
	if err != nil {
		return err
	}
	// An expired token needs no revocation, so the time checks apply too.
	claims, err := ParseAccessToken(token, s.cfg.Issuer, keys, now, 0)
	if errors.Is(err, ErrInvalidToken) {
		return nil
	}
	if err != nil {
		return err
	}
	if claims.ClientID != c.ID {
		return ErrUnauthorizedClient.WithDescription("the token was not issued to this client")
	}
	return s.RevokeAccessToken(ctx, Actor{Kind: ActorClient, ID: c.ID}, claims.ID, ReasonRevokedByClient)
}

// RevokeAccessToken revokes the access token jti. Revoking a revoked token
// changes nothing; an unknown jti is ErrNotFound. It returns once the
// revocation is in the log and applied by the local read models.
func (s *Service) RevokeAccessToken(ctx context.Context, actor Actor, jti, reason string) error {
	return s.RevokeAccessTokenCausedBy(ctx, actor, jti, reason, "")
}

// RevokeAccessTokenCausedBy is RevokeAccessToken for a reaction to the
// event with id cause: the revocation's event id derives from it, so a
// redelivered cause is deduplicated by the log.
func (s *Service) RevokeAccessTokenCausedBy(ctx context.Context, actor Actor, jti, reason, cause string) error {
	if !ValidID(jti) {
		return fmt.Errorf("domain: token %q: %w", jti, ErrNotFound)
	}
	fromLog := false
	return retry(ctx, func() error {
		t, err := s.accessToken(ctx, jti, fromLog)
		fromLog = true // after a conflict the read model may lag: ask the log
		if err != nil {
			return err
		}
		if t.Revoked {
			return nil
		}
		e := AccessTokenRevoked{TokenID: jti, ClientID: t.ClientID, UserID: t.UserID, ExpiresAt: t.ExpiresAt, Reason: reason}
		_, err = s.recordCaused(ctx, cause, ExpectSeq(t.Seq), actor, e)
		return err
	})
}

// RevokeRefreshFamily revokes a refresh token family's live token, and
// with it the access token it was issued with. cause, when not empty, is
// the id of the event this reacts to (see RevokeAccessTokenCausedBy).
// Revoking a revoked family changes nothing; an unknown one is
// ErrNotFound.
func (s *Service) RevokeRefreshFamily(ctx context.Context, actor Actor, familyID, reason, cause string) error {
	var accessID string
	err := retry(ctx, func() error {
		f, err := load(ctx, s.ports.Log, Aggregate{KindRefresh, familyID}, ApplyRefreshFamily)
		if err != nil {
			return err
		}
		accessID = f.AccessTokenID
		if f.Revoked {
			return nil
		}
		e := RefreshTokenRevoked{FamilyID: f.ID, RefreshTokenID: f.TokenID, ClientID: f.ClientID, UserID: f.UserID, Reason: reason}
		_, err = s.recordCaused(ctx, cause, ExpectSeq(f.Seq), actor, e)
		return err
	})
	if err != nil || accessID == "" {
		return err
	}
	err = s.RevokeAccessTokenCausedBy(ctx, actor, accessID, reason, cause)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// accessToken reads a token from the read model, or rebuilds it from the
// log when fromLog is set.
func (s *Service) accessToken(ctx context.Context, jti string, fromLog bool) (AccessToken, error) {
	if !fromLog && s.ports.Tokens != nil {
		return s.ports.Tokens.AccessToken(ctx, jti)
	}
	return load(ctx, s.ports.Log, Aggregate{KindToken, jti}, ApplyAccessToken)
}
