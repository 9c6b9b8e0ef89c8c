package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// metadata is the RFC 8414 §2 authorization server metadata document.
type metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	DeviceAuthorizationEndpoint                string   `json:"device_authorization_endpoint,omitempty"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
}

// Client authentication methods (RFC 7591 §2). A public client presents
// its id alone ("none"); it may use the token and revocation endpoints
// but not introspection, which domain.Service.Introspect refuses it.
var (
	authMethodsAll          = []string{"client_secret_basic", "client_secret_post", "none"}
	authMethodsConfidential = []string{"client_secret_basic", "client_secret_post"}
)

// encodeMetadata builds the RFC 8414 document of a server with opts
// (validated) and the scope catalogue. The document depends on nothing
// else, so it is encoded once.
//
// issuer is opts.Issuer verbatim, to equal the tokens' "iss" (§3.3);
// endpoint URLs are built from it without a trailing slash. The
// authorization endpoint, response types and PKCE methods follow the
// authorization_code and implicit grants, and the device authorization
// endpoint the device grant (RFC 8628 §4). response_types_supported is
// required by §2, so it is present even when empty. Every authorization
// response (success or error) carries iss, so with an authorization
// endpoint authorization_response_iss_parameter_supported is true
// (RFC 9207 §3).
func encodeMetadata(opts Options, scopes *domain.Scopes) ([]byte, error) {
	base := strings.TrimSuffix(opts.Issuer, "/")
	enabled := func(grant string) bool { return slices.Contains(opts.GrantTypes, grant) }

	m := metadata{
		Issuer:                            opts.Issuer,
		TokenEndpoint:                     base + pathToken,
		JWKSURI:                           base + pathJWKS,
		ScopesSupported:                   []string{},
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               append([]string{}, opts.GrantTypes...),
		TokenEndpointAuthMethodsSupported: authMethodsAll,
		IntrospectionEndpoint:             base + pathIntrospect,
		IntrospectionEndpointAuthMethodsSupported: authMethodsConfidential,
		RevocationEndpoint:                        base + pathRevoke,
		RevocationEndpointAuthMethodsSupported:    authMethodsAll,
	}
	for _, s := range scopes.List() {
		m.ScopesSupported = append(m.ScopesSupported, s.ID)
	}
	if enabled(domain.GrantAuthorizationCode) {
		m.ResponseTypesSupported = append(m.ResponseTypesSupported, "code")
		m.CodeChallengeMethodsSupported = []string{"S256", "plain"}
	}
	if enabled(domain.GrantImplicit) {
		m.ResponseTypesSupported = append(m.ResponseTypesSupported, "token")
	}
	if len(m.ResponseTypesSupported) > 0 {
		m.AuthorizationEndpoint = base + pathAuthorize
		m.AuthorizationResponseISSParameterSupported = true
	}
	if enabled(domain.GrantDeviceCode) {
		m.DeviceAuthorizationEndpoint = base + pathDeviceCode
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("httpapi: encode metadata: %w", err)
	}
	return b, nil
}

// serveMetadata answers GET /.well-known/oauth-authorization-server,
// readable by scripts of any origin (cors.go).
func (s *server) serveMetadata(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	allowAnyOrigin(w)
	writeBody(w, http.StatusOK, s.metadata)
}

// jwkSet is an RFC 7517 §5 JWK Set.
type jwkSet struct {
	Keys []json.RawMessage `json:"keys"`
}

// jwks answers GET /.well-known/jwks.json: the public JWK of every
// announced key that still verifies tokens (current keys, and retired keys
// until their last token expires), as {"keys": [...]}, cacheable for a
// minute, readable by scripts of any origin (cors.go). A failure to list the keys is an unexpected error (500).
func (s *server) jwks(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	keys, err := s.keys.SigningKeys(r.Context())
	if err != nil {
		s.renderError(w, r, fmt.Errorf("httpapi: list signing keys: %w", err))
		return
	}
	now := s.opts.Now()
	set := jwkSet{Keys: []json.RawMessage{}}
	for _, k := range keys {
		if k.Verifies(now) {
			set.Keys = append(set.Keys, k.PublicKey)
		}
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	allowAnyOrigin(w)
	s.respond(w, r, http.StatusOK, set)
}

// listScopes answers GET /oauth/scopes as Passport does: a JSON array of
// {"id", "description"}, in catalogue order. It is public: the same ids
// are in the metadata's scopes_supported.
func (s *server) listScopes(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	list := s.scopes.List()
	if list == nil {
		list = []domain.Scope{}
	}
	s.respond(w, r, http.StatusOK, list)
}
