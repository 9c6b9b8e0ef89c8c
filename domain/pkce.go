package domain

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"net"
	"net/url"
	"strings"
)

// PKCE methods (RFC 7636 §4.2).
const (
	PKCES256  = "S256"
	PKCEPlain = "plain"
)

// s256 returns BASE64URL(SHA256(s)) (RFC 7636 §4.2).
func s256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// validPKCEString reports whether s is a code verifier or challenge of the
// allowed form: 43 to 128 characters of [A-Z a-z 0-9 - . _ ~]
// (RFC 7636 §4.1).
func validPKCEString(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// challengeS256 returns the S256 form a challenge is stored in: as is for
// S256, hashed for plain (so the log never holds a verifier). It returns
// ErrInvalidRequest for a malformed challenge or an unknown method.
func challengeS256(challenge, method string) (string, error) {
	if method == "" {
		method = PKCEPlain // RFC 7636 §4.3: plain when absent
	}
	if !validPKCEString(challenge) {
		return "", ErrInvalidRequest.WithDescription("code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~")
	}
	switch method {
	case PKCES256:
		return challenge, nil
	case PKCEPlain:
		return s256(challenge), nil
	}
	return "", ErrInvalidRequest.WithDescription("code_challenge_method %q is not supported (want S256 or plain)", method)
}

// verifierMatches checks a code verifier against a stored S256 challenge
// in constant time (RFC 7636 §4.6).
func verifierMatches(verifier, storedS256 string) bool {
	if !validPKCEString(verifier) {
		return false
	}
	got := s256(verifier)
	return subtle.ConstantTimeCompare([]byte(got), []byte(storedS256)) == 1
}

// RedirectMatches reports whether a requested redirect URI matches a
// registered one: exactly (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3), except
// that a loopback redirect (http://127.0.0.1, http://[::1],
// http://localhost) matches whatever its port (RFC 8252 §7.3).
func RedirectMatches(registered []string, requested string) bool {
	for _, r := range registered {
		if r == requested {
			return true
		}
	}
	req, err := url.Parse(requested)
	if err != nil || req.Scheme != "http" || !isLoopback(req.Hostname()) {
		return false
	}
	for _, r := range registered {
		reg, err := url.Parse(r)
		if err != nil || reg.Scheme != "http" || !isLoopback(reg.Hostname()) {
			continue
		}
		if reg.Hostname() == req.Hostname() && reg.Path == req.Path && reg.RawQuery == req.RawQuery && req.User == nil && reg.Fragment == "" && req.Fragment == "" {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// userCodeAlphabet has 20 consonants that cannot be mistaken for each
// other or spell words (RFC 8628 §6.1).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// NewUserCode returns 8 letters of userCodeAlphabet, uniformly drawn
// (about 34.6 bits), for display as XXXX-XXXX.
func NewUserCode(random io.Reader) (string, error) {
	out := make([]byte, 0, 8)
	var b [1]byte
	for len(out) < 8 {
		if _, err := io.ReadFull(random, b[:]); err != nil {
			return "", err
		}
		if b[0] >= 240 { // 240 = 12*20: reject to stay uniform
			continue
		}
		out = append(out, userCodeAlphabet[int(b[0])%len(userCodeAlphabet)])
	}
	return string(out), nil
}

// NormalizeUserCode uppercases a typed user code and drops separators and
// spaces, so "bcdf-ghjk" and "BCDFGHJK" are the same code.
func NormalizeUserCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		if r >= 'A' && r <= 'Z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
