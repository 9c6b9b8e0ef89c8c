package domain

import (
	"context"
	"io"
	"time"
)

// The client credentials grant (RFC 6749 §4.4): a confidential client,
// authenticated (§4.4.2), receives an access token for itself, without a
// refresh token (§4.4.3). The token's subject is the client id; "*" may
// be requested, as in Passport. A resource parameter (RFC 8707 §2) names
// the APIs the token is for.

// clientCredentialsState is what the client credentials decision decides
// on: the authenticated client, the scope catalogue, the issuer's terms
// and the lifetime of client tokens (Config.ClientCredentials).
type clientCredentialsState struct {
	Client   Client
	Scopes   *Scopes
	Issuer   issuerTerms
	Lifetime time.Duration
}

// clientCredentialsCommand is a client credentials request: its scope
// and resource parameters.
type clientCredentialsCommand struct {
	Scope    string
	Resource string
}

// decideClientCredentials decides a client credentials request: only a
// confidential client allowed the grant (unauthorized_client), scopes
// within the catalogue and the client's (invalid_scope), resources among
// its audiences (invalid_target). It issues one access token and records
// it as the client.
func decideClientCredentials(st clientCredentialsState, cmd clientCredentialsCommand, now time.Time, rnd io.Reader) (tokenDecision, error) {
	c := st.Client
	if !c.Confidential() || !c.HasGrant(GrantClientCredentials) {
		return tokenDecision{}, ErrUnauthorizedClient.WithDescription("the client may not use the client_credentials grant")
	}
	scopes, err := st.Scopes.Resolve(ParseScope(cmd.Scope), true, c.Scopes)
	if err != nil {
		return tokenDecision{}, err
	}
	resources, err := decideResources(c, cmd.Resource, nil)
	if err != nil {
		return tokenDecision{}, err
	}
	set, err := decideTokenSet(st.Issuer, accessTerms{Client: c, Grant: GrantClientCredentials, Scopes: scopes, Resources: resources, TTL: st.Lifetime}, false, now, rnd)
	if err != nil {
		return tokenDecision{}, err
	}
	return tokenDecision{Events: set.events(), Expect: ExpectAny, Actor: actorFor(c.ID, ""), Tokens: &set}, nil
}

// clientCredentials answers a client credentials request of the
// authenticated client c: it decides (decideClientCredentials) and
// issues.
func (s *Service) clientCredentials(ctx context.Context, call grantCall) (TokenResponse, error) {
	c, req, is, signer := call.Client, call.Req, call.Issuer, call.Signer
	st := clientCredentialsState{Client: c, Scopes: s.cfg.Scopes, Issuer: is, Lifetime: s.cfg.ClientCredentials}
	d, err := decideClientCredentials(st, clientCredentialsCommand{Scope: req.Scope, Resource: req.Form["resource"]}, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return TokenResponse{}, err
	}
	return s.issue(ctx, signer, d)
}
