package domain

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedTokensPerGeneration bounds the verified-token cache: it holds at
// most twice this many tokens (a few MB at most).
const verifiedTokensPerGeneration = 4096

// verifiedTokens remembers the access tokens whose signature verified, so
// that a token presented again (a resource server's caller sends the same
// bearer token with every request for its lifetime) skips the JWS parse,
// the JSON decoding of its claims and the signature check, which are most
// of a token check's CPU time.
//
// Why this is safe: an entry is keyed by the SHA-256 of the token's exact
// bytes, so only the very token that passed the full check hits it; a
// token differing in any byte (another signature, a changed claim) misses
// and is checked in full. An entry is made only for a token that passed
// every check of ParseAccessToken, and a hit is not taken on trust: the
// key its signature verified under must still be one that verifies now
// (a key retired past its verify_until, or unknown to this instance's
// keys, sends the token through the full check, which refuses it), and
// issuer, nbf and exp are checked again at now. Revocation, the client and
// the user are never cached: the read model is asked on every check, as
// before. Failures are not cached, so bad tokens cannot fill it.
//
// It is bounded in two generations: entries go into the current map; when
// it is full it becomes the previous one (the older previous is dropped),
// and a hit in the previous map moves the entry back to the current one.
// Safe for concurrent use.
type verifiedTokens struct {
	mu        sync.Mutex
	cur, prev map[[sha256.Size]byte]verifiedToken
}

// verifiedToken is a token's claims and the key its signature verified
// under.
type verifiedToken struct {
	claims Claims
	by     verifiedBy
}

func (v *verifiedTokens) get(sum [sha256.Size]byte) (verifiedToken, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if t, ok := v.cur[sum]; ok {
		return t, true
	}
	t, ok := v.prev[sum]
	if ok {
		v.putLocked(sum, t)
	}
	return t, ok
}

func (v *verifiedTokens) put(sum [sha256.Size]byte, t verifiedToken) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.putLocked(sum, t)
}

func (v *verifiedTokens) putLocked(sum [sha256.Size]byte, t verifiedToken) {
	if len(v.cur) >= verifiedTokensPerGeneration || v.cur == nil {
		v.prev, v.cur = v.cur, make(map[[sha256.Size]byte]verifiedToken, verifiedTokensPerGeneration)
	}
	v.cur[sum] = t
}

// parse is ParseAccessToken, answering a token that passed before from
// the cache (see verifiedTokens for what is checked again). The claims'
// slices are shared between calls: callers must not modify them.
func (v *verifiedTokens) parse(raw, issuer string, keys KeyLookup, now time.Time, leeway time.Duration) (Claims, error) {
	sum := sha256.Sum256([]byte(raw))
	if t, ok := v.get(sum); ok {
		if _, alg, ok := keys(t.by.kid); ok && alg == t.by.alg {
			if err := checkAccessClaims(t.claims, issuer, now, leeway); err != nil {
				return Claims{}, err
			}
			return t.claims, nil
		}
	}
	c, by, err := verifyAccessToken(raw, keys)
	if err != nil {
		return Claims{}, err
	}
	if err := checkAccessClaims(c, issuer, now, leeway); err != nil {
		return Claims{}, err
	}
	v.put(sum, verifiedToken{claims: c, by: by})
	return c, nil
}
