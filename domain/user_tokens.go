package domain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// UserTokenReader lists a user's access tokens and refresh families.
type UserTokenReader interface {
	AccessTokensByUser(ctx context.Context, userID string) ([]AccessToken, error)
	RefreshFamiliesByUser(ctx context.Context, userID string) ([]RefreshFamily, error)
}

func (s *Service) userTokens() (UserTokenReader, error) {
	r, ok := s.ports.Tokens.(UserTokenReader)
	if !ok {
		return nil, errors.New("domain: cannot list a user's tokens")
	}
	return r, nil
}

// ClientsOf returns the live clients a user owns, oldest first (Passport's
// GET /oauth/clients).
//
// Like every listing of the JSON API it first catches up with the log (see
// Freshness), so a client registered through any instance is listed.
func (s *Service) ClientsOf(ctx context.Context, userID string) ([]Client, error) {
	ctx, err := s.catchUp(ctx)
	if err != nil {
		return nil, err
	}
	lister, ok := s.ports.Clients.(ClientLister)
	if !ok {
		return nil, errors.New("domain: cannot list clients")
	}
	all, err := lister.Clients(ctx)
	if err != nil {
		return nil, err
	}
	out := []Client{}
	for _, c := range all {
		if c.Exists() && c.UserID == userID && userID != "" {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b Client) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// UserToken is one of a user's live access tokens with its client.
type UserToken struct {
	Token  AccessToken
	Client Client
}

// liveTokens returns the user's live access tokens that keep, newest
// first, each with its client, after catching up with the log.
func (s *Service) liveTokens(ctx context.Context, userID string, keep func(AccessToken) bool) ([]UserToken, error) {
	ctx, err := s.catchUp(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.userTokens()
	if err != nil {
		return nil, err
	}
	tokens, err := r.AccessTokensByUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	out := []UserToken{}
	for _, t := range tokens {
		if !t.Active(now) || !keep(t) {
			continue
		}
		c, err := s.ports.Clients.Client(ctx, t.ClientID)
		if err != nil || !c.Exists() {
			continue
		}
		out = append(out, UserToken{Token: t, Client: c})
	}
	slices.SortFunc(out, func(a, b UserToken) int {
		if c := b.Token.IssuedAt.Compare(a.Token.IssuedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Token.ID, b.Token.ID)
	})
	return out, nil
}

// AuthorizedTokens returns the user's live tokens held by applications
// (Passport's GET /oauth/tokens): every live access token but personal
// access tokens, the dashboard's cookie tokens and the tokens of
// first-party clients.
func (s *Service) AuthorizedTokens(ctx context.Context, userID string) ([]UserToken, error) {
	ts, err := s.liveTokens(ctx, userID, func(t AccessToken) bool {
		return t.GrantType != GrantPersonalAccess && t.GrantType != GrantSession
	})
	if err != nil {
		return nil, err
	}
	out := ts[:0]
	for _, t := range ts {
		if !t.Client.FirstParty {
			out = append(out, t)
		}
	}
	return out, nil
}

// PersonalAccessTokens returns the user's live personal access tokens,
// newest first.
func (s *Service) PersonalAccessTokens(ctx context.Context, userID string) ([]UserToken, error) {
	return s.liveTokens(ctx, userID, func(t AccessToken) bool { return t.GrantType == GrantPersonalAccess })
}

// RevokeUserToken revokes one of the user's access tokens and the refresh
// token family it came with (Passport's DELETE /oauth/tokens/{id} and
// DELETE /oauth/personal-access-tokens/{id}). Someone else's token, or an
// unknown one, is ErrNotFound.
func (s *Service) RevokeUserToken(ctx context.Context, userID, jti string) error {
	return s.revokeUserToken(ctx, Actor{Kind: ActorUser, ID: userID}, userID, jti)
}

// revokeUserToken is RevokeUserToken on behalf of actor.
func (s *Service) revokeUserToken(ctx context.Context, actor Actor, userID, jti string) error {
	if !ValidID(jti) {
		return fmt.Errorf("domain: token %q: %w", jti, ErrNotFound)
	}
	t, err := s.accessToken(ctx, jti, false)
	if err != nil {
		return err
	}
	if t.UserID != userID || userID == "" {
		return fmt.Errorf("domain: token %q: %w", jti, ErrNotFound)
	}
	if err := s.RevokeAccessToken(ctx, actor, jti, ReasonRevokedByUser); err != nil {
		return err
	}
	r, err := s.userTokens()
	if err != nil {
		return err
	}
	fams, err := r.RefreshFamiliesByUser(ctx, userID)
	if err != nil {
		return err
	}
	for _, f := range fams {
		if f.AccessTokenID == jti && !f.Revoked {
			if err := s.RevokeRefreshFamily(ctx, actor, f.ID, ReasonRevokedByUser, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// RevokeClientAuthorization is a user revoking an application: the
// consent goes (the next authorization asks again) and so do every access
// token and refresh family the client holds for the user.
func (s *Service) RevokeClientAuthorization(ctx context.Context, userID, clientID string) error {
	return s.revokeClientAuthorization(ctx, Actor{Kind: ActorUser, ID: userID}, userID, clientID)
}

// revokeClientAuthorization is RevokeClientAuthorization on behalf of
// actor.
func (s *Service) revokeClientAuthorization(ctx context.Context, actor Actor, userID, clientID string) error {
	a, err := s.ports.Grants.Authorization(ctx, userID, clientID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err == nil && !a.Revoked {
		e := ClientAuthorizationRevoked{UserID: userID, ClientID: clientID}
		if _, err := s.record(ctx, ExpectSeq(a.Seq), actor, e); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	r, err := s.userTokens()
	if err != nil {
		return err
	}
	tokens, err := r.AccessTokensByUser(ctx, userID)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if t.ClientID == clientID && !t.Revoked {
			if err := s.RevokeAccessToken(ctx, actor, t.ID, ReasonRevokedByUser); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	fams, err := r.RefreshFamiliesByUser(ctx, userID)
	if err != nil {
		return err
	}
	for _, f := range fams {
		if f.ClientID == clientID && !f.Revoked {
			if err := s.RevokeRefreshFamily(ctx, actor, f.ID, ReasonRevokedByUser, ""); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
	}
	return nil
}
