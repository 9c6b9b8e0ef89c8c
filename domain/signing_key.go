package domain

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Signing algorithms stamp issues access tokens with.
const (
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// RSAKeyBits is the size of generated RSA keys. 2048 bits is NIST's floor
// until 2030 and signs several times faster than Passport's 4096.
const RSAKeyBits = 2048

// ErrUnsupportedKey: a key of a type or size stamp does not sign with.
var ErrUnsupportedKey = errors.New("domain: unsupported signing key (want RSA, ECDSA P-256 or Ed25519)")

// ValidAlgorithm reports whether alg is one stamp signs with.
func ValidAlgorithm(alg string) bool { return alg == RS256 || alg == ES256 || alg == EdDSA }

// GenerateSigningKey makes a new private key for alg from random.
func GenerateSigningKey(alg string, random io.Reader) (crypto.Signer, error) {
	switch alg {
	case RS256:
		return rsa.GenerateKey(random, RSAKeyBits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), random)
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(random)
		return priv, err
	}
	return nil, fmt.Errorf("domain: unknown signing algorithm %q (want RS256, ES256 or EdDSA)", alg)
}

// AlgorithmOf returns the algorithm stamp signs with for key.
func AlgorithmOf(key crypto.Signer) (string, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("%w: RSA key of %d bits is too small", ErrUnsupportedKey, k.N.BitLen())
		}
		return RS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("%w: ECDSA curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
		}
		return ES256, nil
	case ed25519.PrivateKey:
		return EdDSA, nil
	}
	return "", ErrUnsupportedKey
}

// EncodePrivateKeyPEM returns key as a PKCS #8 "PRIVATE KEY" PEM block.
func EncodePrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("domain: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM reads the first private key PEM block of data: PKCS #8,
// PKCS #1 ("RSA PRIVATE KEY", as Passport's oauth-private.key) or SEC 1
// ("EC PRIVATE KEY").
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("domain: no private key PEM block found")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("domain: parse %s: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, ErrUnsupportedKey
		}
		if _, err := AlgorithmOf(signer); err != nil {
			return nil, err
		}
		return signer, nil
	}
}

// KeyID returns the RFC 7638 JWK thumbprint (SHA-256, base64url) of a
// public key: the same key gets the same kid on every instance.
func KeyID(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	sum, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("domain: key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sum), nil
}

// PublicJWK returns the public JWK of key as announced in
// SigningKeyGenerated and served in the JWKS.
func PublicJWK(key crypto.Signer) (kid, alg string, jwk json.RawMessage, err error) {
	if alg, err = AlgorithmOf(key); err != nil {
		return "", "", nil, err
	}
	if kid, err = KeyID(key.Public()); err != nil {
		return "", "", nil, err
	}
	jwk, err = json.Marshal(jose.JSONWebKey{Key: key.Public(), KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		return "", "", nil, fmt.Errorf("domain: encode jwk: %w", err)
	}
	return kid, alg, jwk, nil
}

// SigningKeyGeneratedFor returns the event announcing key's public half.
func SigningKeyGeneratedFor(key crypto.Signer, at time.Time) (SigningKeyGenerated, error) {
	kid, alg, jwk, err := PublicJWK(key)
	if err != nil {
		return SigningKeyGenerated{}, err
	}
	return SigningKeyGenerated{KeyID: kid, Algorithm: alg, PublicKey: jwk, CreatedAt: at.UTC()}, nil
}
