package domain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
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
	var state userTokenState
	if ValidID(jti) {
		t, err := s.accessToken(ctx, jti, false)
		if err != nil {
			return err
		}
		r, err := s.userTokens()
		if err != nil {
			return err
		}
		if state.Families, err = r.RefreshFamiliesByUser(ctx, userID); err != nil {
			return err
		}
		state.Token = t
	}
	d, err := decideRevokeUserToken(state, userTokenRef{UserID: userID, TokenID: jti}, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return err
	}
	for _, id := range d.AccessTokens {
		if err := s.RevokeAccessToken(ctx, actor, id, ReasonRevokedByUser); err != nil {
			return err
		}
	}
	for _, id := range d.Families {
		if err := s.RevokeRefreshFamily(ctx, actor, id, ReasonRevokedByUser, ""); err != nil {
			return err
		}
	}
	return nil
}

// userTokenRef names one access token of one user.
type userTokenRef struct {
	UserID  string
	TokenID string
}

// userTokenState is what a user revoking a token decides on: the token
// (the zero AccessToken for an invalid id) and the user's refresh token
// families.
type userTokenState struct {
	Token    AccessToken
	Families []RefreshFamily
}

// revocations are the access tokens and the refresh families a decision
// revokes, each by id, in order.
type revocations struct {
	AccessTokens []string
	Families     []string
}

// decideRevokeUserToken decides a user's revocation of one of its tokens:
// the token must be the user's (someone else's, or an unknown one, is
// ErrNotFound); it is revoked with every live refresh family it was
// issued with (the family's last access token).
func decideRevokeUserToken(state userTokenState, cmd userTokenRef, _ time.Time, _ io.Reader) (revocations, error) {
	t := state.Token
	if !ValidID(cmd.TokenID) || t.ID != cmd.TokenID || t.UserID != cmd.UserID || cmd.UserID == "" {
		return revocations{}, fmt.Errorf("domain: token %q: %w", cmd.TokenID, ErrNotFound)
	}
	d := revocations{AccessTokens: []string{t.ID}}
	for _, f := range state.Families {
		if f.AccessTokenID == t.ID && !f.Revoked {
			d.Families = append(d.Families, f.ID)
		}
	}
	return d, nil
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
	var state clientAuthorizationState
	a, err := s.ports.Grants.Authorization(ctx, userID, clientID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err == nil {
		state.Authorization = a
	}
	r, err := s.userTokens()
	if err != nil {
		return err
	}
	if state.Tokens, err = r.AccessTokensByUser(ctx, userID); err != nil {
		return err
	}
	if state.Families, err = r.RefreshFamiliesByUser(ctx, userID); err != nil {
		return err
	}
	d, err := decideRevokeClientAuthorization(state, clientAuthorizationRef{UserID: userID, ClientID: clientID}, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return err
	}
	if len(d.Events) > 0 {
		if _, err := s.record(ctx, ExpectSeq(state.Authorization.Seq), actor, d.Events...); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
	}
	for _, id := range d.AccessTokens {
		if err := s.RevokeAccessToken(ctx, actor, id, ReasonRevokedByUser); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	for _, id := range d.Families {
		if err := s.RevokeRefreshFamily(ctx, actor, id, ReasonRevokedByUser, ""); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// clientAuthorizationRef names a user's authorization of a client.
type clientAuthorizationRef struct {
	UserID   string
	ClientID string
}

// clientAuthorizationState is what a user revoking an application
// decides on: its consent (the zero Authorization when there is none),
// and the user's access tokens and refresh families.
type clientAuthorizationState struct {
	Authorization Authorization
	Tokens        []AccessToken
	Families      []RefreshFamily
}

// clientAuthorizationRevocation is the decision of
// decideRevokeClientAuthorization: the events to record on the consent
// (expecting its sequence; a conflict means someone changed it meanwhile,
// and the revocations go ahead), then the revocations.
type clientAuthorizationRevocation struct {
	Events []Event
	revocations
}

// decideRevokeClientAuthorization decides a user's revocation of an
// application: a live consent is revoked (ClientAuthorizationRevoked), so
// the next authorization asks again; every access token and refresh
// family of the user and that client not revoked yet is revoked, personal
// ones included when the client is the personal access client.
func decideRevokeClientAuthorization(state clientAuthorizationState, cmd clientAuthorizationRef, _ time.Time, _ io.Reader) (clientAuthorizationRevocation, error) {
	var d clientAuthorizationRevocation
	if a := state.Authorization; a.UserID != "" && !a.Revoked {
		d.Events = []Event{ClientAuthorizationRevoked{UserID: cmd.UserID, ClientID: cmd.ClientID}}
	}
	for _, t := range state.Tokens {
		if t.ClientID == cmd.ClientID && !t.Revoked {
			d.AccessTokens = append(d.AccessTokens, t.ID)
		}
	}
	for _, f := range state.Families {
		if f.ClientID == cmd.ClientID && !f.Revoked {
			d.Families = append(d.Families, f.ID)
		}
	}
	return d, nil
}
