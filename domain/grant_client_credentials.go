package domain

import "context"

// clientCredentials implements the client credentials grant (RFC 6749
// §4.4): a confidential client authenticates (§4.4.2) and receives an
// access token for itself, without a refresh token (§4.4.3). The token's
// subject is the client id; "*" may be requested, as in Passport. A
// resource parameter (RFC 8707) names the APIs the token is for.
func (s *Service) clientCredentials(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	c, err := s.AuthenticateClient(ctx, req.Client)
	if err != nil {
		return TokenResponse{}, err
	}
	if !c.Confidential() || !c.HasGrant(GrantClientCredentials) {
		return TokenResponse{}, ErrUnauthorizedClient.WithDescription("the client may not use the client_credentials grant")
	}
	scopes, err := s.cfg.Scopes.Resolve(ParseScope(req.Scope), true, c.Scopes)
	if err != nil {
		return TokenResponse{}, err
	}
	resources, err := decideResources(c, req.Form["resource"], nil)
	if err != nil {
		return TokenResponse{}, err
	}
	return s.issueAccessToken(ctx, c, "", GrantClientCredentials, scopes, resources, s.cfg.ClientCredentials)
}
