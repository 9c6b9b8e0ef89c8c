package domain

import (
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AccessTokenType is the JWT "typ" header of access tokens (RFC 9068 §2.1).
const AccessTokenType = "at+jwt"

// Claims are the claims of a stamp access token: RFC 9068's, plus
// Passport's "scopes" array.
type Claims struct {
	Issuer    string   `json:"iss"`
	Audience  Audience `json:"aud"`
	Subject   string   `json:"sub"`
	ClientID  string   `json:"client_id"`
	ID        string   `json:"jti"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
	Scopes    []string `json:"scopes"`
	Scope     string   `json:"scope"`
	// Ext are the extra claims an application's consent added (login and
	// consent delegation), namespaced under "ext"; none: absent.
	Ext json.RawMessage `json:"ext,omitempty"`
}

// TokenSigner signs access tokens with one private key. It is safe for
// concurrent use.
type TokenSigner struct {
	kid, alg string
	signer   jose.Signer
}

// NewTokenSigner returns a signer for key; the algorithm follows the key
// type and the kid is the key's thumbprint.
func NewTokenSigner(key crypto.Signer) (*TokenSigner, error) {
	alg, err := AlgorithmOf(key)
	if err != nil {
		return nil, err
	}
	kid, err := KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType(AccessTokenType)
	s, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(alg),
		Key:       jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg},
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("domain: signer: %w", err)
	}
	return &TokenSigner{kid: kid, alg: alg, signer: s}, nil
}

// KeyID returns the kid tokens are signed under.
func (s *TokenSigner) KeyID() string { return s.kid }

// Algorithm returns the JWS algorithm.
func (s *TokenSigner) Algorithm() string { return s.alg }

// Sign returns c as a compact JWS. The claims are encoded once, straight to
// the payload, without go-jose's claims builder.
func (s *TokenSigner) Sign(c Claims) (string, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("domain: encode claims: %w", err)
	}
	jws, err := s.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("domain: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// ErrInvalidToken: a bearer token is malformed, badly signed, of the wrong
// type, from another issuer, not yet valid or expired.
var ErrInvalidToken = errors.New("domain: invalid access token")

// errUnknownKey: a token's kid names no announced key that still
// verifies (ParseAccessToken wraps it with ErrInvalidToken).
var errUnknownKey = errors.New("unknown key")

var acceptedAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

// KeyLookup returns the public key (any type go-jose verifies with) and the
// algorithm of a kid, or false when the kid is unknown or no longer verifies.
type KeyLookup func(kid string) (key any, alg string, ok bool)

// ParseAccessToken verifies raw against the key its kid names and checks
// typ, issuer, nbf and exp at now (with leeway for clock skew). It returns
// the claims, or an error wrapping ErrInvalidToken. Revocation is not its
// business: callers look the jti up.
func ParseAccessToken(raw, issuer string, keys KeyLookup, now time.Time, leeway time.Duration) (Claims, error) {
	c, _, err := verifyAccessToken(raw, keys)
	if err != nil {
		return Claims{}, err
	}
	if err := checkAccessClaims(c, issuer, now, leeway); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// verifiedBy names the key a token's signature verified under.
type verifiedBy struct{ kid, alg string }

// verifyAccessToken parses raw, checks its typ and its signature under
// the key its kid names, and returns its claims and that key. Its errors
// wrap ErrInvalidToken (and errUnknownKey for a kid keys does not know).
func verifyAccessToken(raw string, keys KeyLookup) (Claims, verifiedBy, error) {
	tok, err := jwt.ParseSigned(raw, acceptedAlgorithms)
	if err != nil {
		return Claims{}, verifiedBy{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if len(tok.Headers) != 1 {
		return Claims{}, verifiedBy{}, fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != AccessTokenType {
		return Claims{}, verifiedBy{}, fmt.Errorf("%w: typ %q", ErrInvalidToken, typ)
	}
	key, alg, ok := keys(h.KeyID)
	if !ok || alg != h.Algorithm {
		return Claims{}, verifiedBy{}, fmt.Errorf("%w: %w %q", ErrInvalidToken, errUnknownKey, h.KeyID)
	}
	var c Claims
	if err := tok.Claims(key, &c); err != nil {
		return Claims{}, verifiedBy{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return c, verifiedBy{kid: h.KeyID, alg: alg}, nil
}

// checkAccessClaims checks the issuer, the jti, nbf and exp of verified
// claims at now (with leeway for clock skew); its errors wrap
// ErrInvalidToken.
func checkAccessClaims(c Claims, issuer string, now time.Time, leeway time.Duration) error {
	switch unix := now.Unix(); {
	case c.Issuer != issuer:
		return fmt.Errorf("%w: issuer %q", ErrInvalidToken, c.Issuer)
	case c.ID == "":
		return fmt.Errorf("%w: no jti", ErrInvalidToken)
	case unix+int64(leeway/time.Second) < c.NotBefore:
		return fmt.Errorf("%w: not valid yet", ErrInvalidToken)
	case unix-int64(leeway/time.Second) >= c.Expiry:
		return fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	return nil
}

// ParsePublicJWK decodes a public JWK as announced in SigningKeyGenerated.
func ParsePublicJWK(data json.RawMessage) (jose.JSONWebKey, error) {
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(data); err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("domain: decode jwk: %w", err)
	}
	if !k.IsPublic() || !k.Valid() {
		return jose.JSONWebKey{}, errors.New("domain: jwk is not a valid public key")
	}
	return k, nil
}
