package domain

import (
	"context"
	"errors"
	"fmt"
)

// Revoke implements RFC 7009 for an authenticated client, for access and
// refresh tokens (§2.1). hint ("access_token", "refresh_token" or "")
// only orders the look-ups: a token is found whatever its hint says.
//
//   - An access token this client holds is revoked. One issued to another
//     client is ErrUnauthorizedClient (§2.1: "the request is refused"):
//     its client_id is readable in the JWT, so refusing leaks nothing.
//   - A refresh token of this client (the family's live one or a rotated
//     out one) revokes its whole family and the family's live access
//     token (§2.1: "other tokens based on the same authorization grant";
//     the access tokens it issued before were revoked at each rotation).
//     One of another client is answered as an unknown token, nil with
//     nothing done, so the caller learns nothing of an opaque secret it
//     does not own.
//
// An invalid, unknown, expired or already revoked token is not an error
// (§2.2: the answer is 200 either way). Other errors: ErrInvalidClient,
// ErrInvalidRequest, ErrUnsupportedTokenType for an unknown hint.
func (s *Service) Revoke(ctx context.Context, caller ClientCredentials, token, hint string) error {
	c, err := s.AuthenticateClient(ctx, caller)
	if err != nil {
		return err
	}
	if token == "" {
		return ErrInvalidRequest.WithDescription("the token parameter is missing")
	}
	lookups := []func(context.Context, Client, string) (bool, error){s.revokeAsAccessToken, s.revokeAsRefreshToken}
	switch hint {
	case "", "access_token":
	case "refresh_token":
		lookups[0], lookups[1] = lookups[1], lookups[0]
	default:
		return ErrUnsupportedTokenType.WithDescription("the token type %q is not supported", hint)
	}
	for _, revoke := range lookups {
		if found, err := revoke(ctx, c, token); found || err != nil {
			return err
		}
	}
	return nil
}

// revokeAsAccessToken revokes token if it is an access token of c. It
// reports whether token is a live access token at all.
func (s *Service) revokeAsAccessToken(ctx context.Context, c Client, token string) (bool, error) {
	// An expired token needs no revocation, so the time checks apply too.
	ctx, claims, err := s.parseAccessToken(ctx, token, s.cfg.Now(), 0)
	if errors.Is(err, ErrInvalidToken) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if claims.ClientID != c.ID {
		return true, ErrUnauthorizedClient.WithDescription("the token was not issued to this client")
	}
	return true, s.RevokeAccessToken(ctx, Actor{Kind: ActorClient, ID: c.ID}, claims.ID, ReasonRevokedByClient)
}

// revokeAsRefreshToken revokes the family of token if it is a refresh
// token of c. It reports whether token is a refresh token of c.
func (s *Service) revokeAsRefreshToken(ctx context.Context, c Client, token string) (bool, error) {
	if s.ports.Grants == nil {
		return false, nil
	}
	hash := HashSecret(token)
	f, err := lookupFresh(ctx, s, func(ctx context.Context) (RefreshFamily, error) {
		return s.ports.Grants.RefreshFamilyByTokenHash(ctx, hash)
	})
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if f.ClientID != c.ID {
		return false, nil
	}
	if f.Revoked {
		return true, nil
	}
	err = s.RevokeRefreshFamily(ctx, Actor{Kind: ActorClient, ID: c.ID}, f.ID, ReasonRevokedByClient, "")
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	return true, err
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

// accessToken reads a token from the read model (catching up with the log
// before it answers ErrNotFound, see lookupFresh), or rebuilds it from the
// log when fromLog is set.
func (s *Service) accessToken(ctx context.Context, jti string, fromLog bool) (AccessToken, error) {
	if !fromLog && s.ports.Tokens != nil {
		return lookupFresh(ctx, s, func(ctx context.Context) (AccessToken, error) {
			return s.ports.Tokens.AccessToken(ctx, jti)
		})
	}
	return load(ctx, s.ports.Log, Aggregate{KindToken, jti}, ApplyAccessToken)
}
