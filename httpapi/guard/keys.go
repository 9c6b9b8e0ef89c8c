package guard

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/stamp-oauth/stamp/domain"
)

// maxJWKSBytes bounds the JWKS document read.
const maxJWKSBytes = 1 << 20

// errNoKeys: a JWKS without one key the guard can verify with.
var errNoKeys = errors.New("guard: the JWKS holds no usable signing key")

// verifyKey is one public key of the JWKS.
type verifyKey struct {
	key any // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
	alg string
}

// keySet is one fetched JWKS, never changed once published.
type keySet map[string]verifyKey

// lookup is a domain.KeyLookup over a keySet that remembers whether a kid
// was missing, which is when a refetch may help.
type lookup struct {
	set    keySet
	missed bool
}

func (l *lookup) key(kid string) (any, string, bool) {
	k, ok := l.set[kid]
	if !ok {
		l.missed = true
	}
	return k.key, k.alg, ok
}

// keyCache holds the current keySet and refetches it, at most once per
// RefetchInterval and one request at a time, when a token names an unknown
// kid.
type keyCache struct {
	life   context.Context // bounds background fetches
	url    string
	client *http.Client
	now    func() time.Time
	logger *slog.Logger

	set atomic.Pointer[keySet]

	mu       sync.Mutex
	last     time.Time     // when the last fetch started
	inflight chan struct{} // closed when the fetch in progress ends
}

func newKeyCache(life context.Context, o Options) *keyCache {
	return &keyCache{life: life, url: o.JWKSURL, client: o.HTTPClient, now: o.Now, logger: o.Logger}
}

// current returns the keys in use; a refetch that changes them publishes a
// new *keySet.
func (k *keyCache) current() *keySet { return k.set.Load() }

// load fetches the first key set.
func (k *keyCache) load(ctx context.Context) error {
	k.last = k.now()
	set, err := k.fetch(ctx)
	if err != nil {
		return err
	}
	k.set.Store(&set)
	return nil
}

// refetch fetches the JWKS again unless a fetch started less than
// RefetchInterval ago, waits for the fetch in progress (or ctx), and
// returns the keys in use afterwards. A failed fetch keeps the old keys.
func (k *keyCache) refetch(ctx context.Context) *keySet {
	k.mu.Lock()
	ch := k.inflight
	if ch == nil {
		now := k.now()
		if now.Sub(k.last) < RefetchInterval {
			k.mu.Unlock()
			return k.current()
		}
		k.last = now
		ch = make(chan struct{})
		k.inflight = ch
		// The fetch serves every waiting request, so it runs on its own,
		// bounded by the guard's life rather than one request's.
		go func() {
			set, err := k.fetch(k.life)
			if err != nil {
				k.logger.Warn("guard: refetching the JWKS for an unknown kid failed; keeping the old keys", "err", err)
			} else {
				k.set.Store(&set)
			}
			k.mu.Lock()
			k.inflight = nil
			k.mu.Unlock()
			close(ch)
		}()
	}
	k.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
	return k.current()
}

// fetch reads and parses the JWKS.
func (k *keyCache) fetch(ctx context.Context) (keySet, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultHTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("guard: fetch JWKS: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("guard: fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes))
	if err != nil {
		return nil, fmt.Errorf("guard: fetch JWKS %s: %w", k.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("guard: fetch JWKS %s: status %s", k.url, resp.Status)
	}
	set, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s)", err, k.url)
	}
	return set, nil
}

// parseJWKS reads an RFC 7517 §5 key set, keeping the public signing keys
// of the algorithms stamp signs with and skipping every other key (an
// encryption key, another algorithm, a key type go-jose does not know).
func parseJWKS(body []byte) (keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("guard: decode JWKS: %w", err)
	}
	set := keySet{}
	for _, raw := range doc.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil || jwk.KeyID == "" || (jwk.Use != "" && jwk.Use != "sig") || !jwk.Valid() {
			continue
		}
		if !jwk.IsPublic() {
			jwk = jwk.Public()
		}
		alg, ok := algorithmOf(jwk.Key)
		if !ok || (jwk.Algorithm != "" && jwk.Algorithm != alg) {
			continue
		}
		set[jwk.KeyID] = verifyKey{key: jwk.Key, alg: alg}
	}
	if len(set) == 0 {
		return nil, errNoKeys
	}
	return set, nil
}

// algorithmOf returns the algorithm stamp signs with for a public key of
// this type, as domain.AlgorithmOf does for private keys.
func algorithmOf(key any) (string, bool) {
	switch k := key.(type) {
	case *rsa.PublicKey:
		return domain.RS256, k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return domain.ES256, k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return domain.EdDSA, true
	}
	return "", false
}
