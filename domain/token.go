package domain

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ClientCredentials are the client authentication a request presented
// (RFC 6749 §2.3.1): by HTTP Basic, by form fields, or a client id alone
// for a public client.
type ClientCredentials struct {
	ID     string
	Secret string
	// Basic records that HTTP Basic was used, so an invalid_client answer
	// carries 401 and WWW-Authenticate.
	Basic bool
	// Remote is the client's network address, for limiting failed
	// authentications per address.
	Remote string
}

// TokenRequest is a POST /oauth/token request, already parsed from the
// form. Form holds the grant-specific parameters, and RFC 8707's
// resource, which every grant accepts (repeated parameters joined with
// spaces).
type TokenRequest struct {
	GrantType string
	Client    ClientCredentials
	Scope     string
	Form      map[string]string
	// Remote is the client's network address, for rate limiting.
	Remote string
}

// TokenResponse is the RFC 6749 §5.1 success answer.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// Token answers a token request by its grant type. Errors are *OAuthError
// (errors.Is with the package sentinels) or infrastructure errors.
func (s *Service) Token(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	switch req.GrantType {
	case "":
		return TokenResponse{}, ErrInvalidRequest.WithDescription("the grant_type parameter is missing")
	case GrantClientCredentials:
		return s.clientCredentials(ctx, req)
	case GrantPassword:
		return s.password(ctx, req)
	case GrantRefreshToken:
		return s.refreshToken(ctx, req)
	case GrantAuthorizationCode:
		return s.authorizationCode(ctx, req)
	case GrantDeviceCode:
		return s.deviceCode(ctx, req)
	}
	return TokenResponse{}, ErrUnsupportedGrantType.WithDescription("the grant type %q is not supported", req.GrantType)
}

// checkClient checks presented credentials against the clients read
// model (RFC 6749 §2.3); AuthenticateClient limits it. A confidential client must present its secret; a
// public client presents its id alone. Any failure is ErrInvalidClient
// with the same description, so an answer never tells whether the client
// exists.
func (s *Service) checkClient(ctx context.Context, cred ClientCredentials) (Client, error) {
	fail := ErrInvalidClient.WithDescription("client authentication failed")
	if !ValidID(cred.ID) {
		return Client{}, fail
	}
	c, err := s.ports.Clients.Client(ctx, cred.ID)
	if errors.Is(err, ErrNotFound) {
		SecretMatches(cred.Secret, "") // spend the same time as a found client
		return Client{}, fail
	}
	if err != nil {
		return Client{}, err
	}
	if !c.Exists() {
		return Client{}, fail
	}
	if c.Confidential() {
		if cred.Secret == "" || !SecretMatches(cred.Secret, c.SecretHash) {
			return Client{}, fail
		}
	} else if cred.Secret != "" {
		return Client{}, fail
	}
	return c, nil
}

// issueAccessToken signs a new access token for resources (nil: its aud is
// the client id), records AccessTokenCreated and
// waits for the projection. The token reaches the caller only after the
// log has acknowledged its event.
func (s *Service) issueAccessToken(ctx context.Context, c Client, userID, grant string, scopes, resources []string, ttl time.Duration) (TokenResponse, error) {
	resp, events, err := s.tokenSetFor(c, userID, grant, scopes, resources, ttl, false)
	if err != nil {
		return TokenResponse{}, err
	}
	if _, err := s.record(ctx, ExpectAny, actorFor(c.ID, userID), events...); err != nil {
		return TokenResponse{}, fmt.Errorf("domain: record access token: %w", err)
	}
	return resp, nil
}
