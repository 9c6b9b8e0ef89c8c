package domain

import "context"

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

// Token answers a token request (RFC 6749 §3.2) by its grant type: it
// refuses a missing, unknown or disabled grant type, authenticates the
// client once (AuthenticateClient), and hands the request to its grant
// (grant_*.go) with the issuer's terms, which decides and issues through
// the issuer (mint.go). Errors are *OAuthError (errors.Is with the
// package sentinels) or infrastructure errors.
func (s *Service) Token(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	grant, err := s.tokenGrant(req.GrantType)
	if err != nil {
		return TokenResponse{}, err
	}
	c, err := s.AuthenticateClient(ctx, req.Client)
	if err != nil {
		return TokenResponse{}, err
	}
	call := grantCall{Client: c, Req: req}
	call.Issuer, call.Signer = s.issuerTerms()
	return grant(ctx, call)
}

// grantCall is a token request on its way to its grant: the
// authenticated client, the request, and the terms tokens are issued on
// with the signer they name, loaded once per request.
type grantCall struct {
	Client Client
	Req    TokenRequest
	Issuer issuerTerms
	Signer *TokenSigner
}

// tokenGrant returns the grant answering grant type t: invalid_request
// when there is none, unsupported_grant_type when t is unknown or not
// enabled.
func (s *Service) tokenGrant(t string) (func(context.Context, grantCall) (TokenResponse, error), error) {
	switch t {
	case "":
		return nil, ErrInvalidRequest.WithDescription("the grant_type parameter is missing")
	case GrantClientCredentials:
		return s.clientCredentials, nil
	case GrantPassword:
		if err := passwordEnabled(s.cfg.Grants); err != nil {
			return nil, err
		}
		return s.password, nil
	case GrantRefreshToken:
		return s.refreshToken, nil
	case GrantAuthorizationCode:
		return s.authorizationCode, nil
	case GrantDeviceCode:
		return s.deviceCode, nil
	}
	return nil, ErrUnsupportedGrantType.WithDescription("the grant type %q is not supported", t)
}

// issuerTerms returns the terms tokens are issued on now, with the
// signer they will be signed with (nil when the service has none).
func (s *Service) issuerTerms() (issuerTerms, *TokenSigner) {
	signer := s.signer.Load()
	is := issuerTerms{Issuer: s.cfg.Issuer, AccessToken: s.cfg.AccessToken, RefreshToken: s.cfg.RefreshToken}
	if signer != nil {
		is.KeyID = signer.KeyID()
	}
	return is, signer
}
