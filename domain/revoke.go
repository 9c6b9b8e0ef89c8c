package domain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
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
	order, err := decideRevocationOrder(c, revocation{Token: token, Hint: hint}, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return err
	}
	for _, kind := range order {
		revoke := s.revokeAsAccessToken
		if kind == hintRefreshToken {
			revoke = s.revokeAsRefreshToken
		}
		if found, err := revoke(ctx, c, token); found || err != nil {
			return err
		}
	}
	return nil
}

// The token type hints of RFC 7009 §2.1.
const (
	hintAccessToken  = "access_token"
	hintRefreshToken = "refresh_token"
)

// revocation is an RFC 7009 revocation request: the token and its
// token_type_hint.
type revocation struct {
	Token string
	Hint  string
}

// decideRevocationOrder decides how to look up the token a caller (the
// authenticated client) asks to revoke (RFC 7009 §2.1): a missing token
// is ErrInvalidRequest; an unknown hint is ErrUnsupportedTokenType (§2.2.1);
// the hint only orders the look-ups, access token first unless it names
// a refresh token, since a token is found whatever its hint says.
func decideRevocationOrder(_ Client, cmd revocation, _ time.Time, _ io.Reader) ([]string, error) {
	if cmd.Token == "" {
		return nil, ErrInvalidRequest.WithDescription("the token parameter is missing")
	}
	switch cmd.Hint {
	case "", hintAccessToken:
		return []string{hintAccessToken, hintRefreshToken}, nil
	case hintRefreshToken:
		return []string{hintRefreshToken, hintAccessToken}, nil
	}
	return nil, ErrUnsupportedTokenType.WithDescription("the token type %q is not supported", cmd.Hint)
}

// revokeAsAccessToken revokes token if it is an access token of c. It
// reports whether token is a live access token at all.
func (s *Service) revokeAsAccessToken(ctx context.Context, c Client, token string) (bool, error) {
	// An expired token needs no revocation, so the time checks apply too.
	ctx, claims, err := s.parseAccessToken(ctx, token, s.cfg.Now(), 0)
	if errors.Is(err, ErrInvalidToken) {
		claims, err = Claims{}, nil
	}
	if err != nil {
		return false, err
	}
	jti, err := decideRevokeAsAccessToken(claims, c, s.cfg.Now(), s.cfg.Random)
	if jti == "" || err != nil {
		return err != nil, err
	}
	return true, s.RevokeAccessToken(ctx, Actor{Kind: ActorClient, ID: c.ID}, jti, ReasonRevokedByClient)
}

// decideRevokeAsAccessToken decides the revocation by caller of state,
// the claims of the presented token when it parses as a live access token
// (zero Claims when it does not: "", nil, look further). Its own token's
// jti is returned, to revoke with ReasonRevokedByClient. One issued to
// another client is ErrUnauthorizedClient (RFC 7009 §2.1: "the request is
// refused"): its client_id is readable in the JWT, so refusing leaks
// nothing.
func decideRevokeAsAccessToken(state Claims, caller Client, _ time.Time, _ io.Reader) (string, error) {
	if state.ID == "" {
		return "", nil
	}
	if state.ClientID != caller.ID {
		return "", ErrUnauthorizedClient.WithDescription("the token was not issued to this client")
	}
	return state.ID, nil
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
		f, err = RefreshFamily{}, nil
	}
	if err != nil {
		return false, err
	}
	d, err := decideRevokeAsRefreshToken(f, c, s.cfg.Now(), s.cfg.Random)
	if d.FamilyID == "" || err != nil {
		return d.Found, err
	}
	err = s.RevokeRefreshFamily(ctx, Actor{Kind: ActorClient, ID: c.ID}, d.FamilyID, ReasonRevokedByClient, "")
	if errors.Is(err, ErrNotFound) {
		return true, nil
	}
	return true, err
}

// refreshRevocation is the decision of decideRevokeAsRefreshToken: whether
// the token counts as found, and the family to revoke ("" for none).
type refreshRevocation struct {
	Found    bool
	FamilyID string
}

// decideRevokeAsRefreshToken decides the revocation by caller of state,
// the refresh token family the presented token belongs to (its live token
// or a rotated out one; the zero RefreshFamily when none). It decides
// whether the token counts as found, and the family to revoke (RFC 7009
// §2.1: "other tokens based on the same authorization grant", so the whole
// family and its live access token), "" for none. Another client's family
// is answered as an unknown token, so the caller learns nothing of an
// opaque secret it does not own; a revoked family is found and needs
// nothing.
func decideRevokeAsRefreshToken(state RefreshFamily, caller Client, _ time.Time, _ io.Reader) (refreshRevocation, error) {
	switch {
	case state.ID == "" || state.ClientID != caller.ID:
		return refreshRevocation{}, nil
	case state.Revoked:
		return refreshRevocation{Found: true}, nil
	}
	return refreshRevocation{Found: true, FamilyID: state.ID}, nil
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
		events, err := decideRevokeAccessToken(t, reason, s.cfg.Now(), s.cfg.Random)
		if err != nil || len(events) == 0 {
			return err
		}
		_, err = s.recordCaused(ctx, cause, ExpectSeq(t.Seq), actor, events...)
		return err
	})
}

// decideRevokeAccessToken decides the revocation of state, an access
// token, for reason: a revoked token changes nothing (no event), an
// unknown one (the zero AccessToken) is ErrNotFound; else
// AccessTokenRevoked, which carries the token's expiry so the revocation
// is remembered as long as the token could be presented.
func decideRevokeAccessToken(state AccessToken, reason string, _ time.Time, _ io.Reader) ([]Event, error) {
	switch {
	case state.ID == "":
		return nil, fmt.Errorf("domain: token: %w", ErrNotFound)
	case state.Revoked:
		return nil, nil
	}
	return []Event{AccessTokenRevoked{TokenID: state.ID, ClientID: state.ClientID, UserID: state.UserID, ExpiresAt: state.ExpiresAt, Reason: reason}}, nil
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
		d, err := decideRevokeRefreshFamily(f, reason, s.cfg.Now(), s.cfg.Random)
		accessID = d.AccessTokenID
		if err != nil || len(d.Events) == 0 {
			return err
		}
		_, err = s.recordCaused(ctx, cause, ExpectSeq(f.Seq), actor, d.Events...)
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

// familyRevocation is the decision of decideRevokeRefreshFamily: the
// events to record on the family, and the access token to revoke after
// them ("" for none).
type familyRevocation struct {
	Events        []Event
	AccessTokenID string
}

// decideRevokeRefreshFamily decides the revocation of state, a refresh
// token family, for reason: its live token is revoked
// (RefreshTokenRevoked) unless the family is revoked already, and the
// access token it was last issued with is revoked either way (a retry
// after a failure between the two finishes the job; revoking a revoked
// token changes nothing).
// An unknown family (the zero RefreshFamily) is ErrNotFound.
func decideRevokeRefreshFamily(state RefreshFamily, reason string, _ time.Time, _ io.Reader) (familyRevocation, error) {
	if state.ID == "" {
		return familyRevocation{}, fmt.Errorf("domain: refresh family: %w", ErrNotFound)
	}
	d := familyRevocation{AccessTokenID: state.AccessTokenID}
	if !state.Revoked {
		d.Events = []Event{RefreshTokenRevoked{FamilyID: state.ID, RefreshTokenID: state.TokenID, ClientID: state.ClientID, UserID: state.UserID, Reason: reason}}
	}
	return d, nil
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
