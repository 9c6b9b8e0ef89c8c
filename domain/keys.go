package domain

import (
	"context"
	"crypto"
	"errors"
	"io"
	"time"
)

// AnnounceSigningKey records SigningKeyGenerated for key's public half,
// unless the log already holds it: every instance that loads the same
// private key announces it, and only the first append is stored. The
// event id is derived from the kid, so even a retry of the same append is
// deduplicated. It returns the kid.
func (s *Service) AnnounceSigningKey(ctx context.Context, actor Actor, key crypto.Signer) (string, error) {
	e, err := decideAnnounceSigningKey(noState{}, key, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return "", err
	}
	env, err := NewEnvelope("key-"+e.KeyID, e, s.cfg.Now(), actor)
	if err != nil {
		return "", err
	}
	seq, err := s.ports.Log.Append(ctx, e.AggregateOf(), ExpectNew, env)
	if errors.Is(err, ErrConflict) {
		return e.KeyID, nil
	}
	if err != nil {
		return "", err
	}
	return e.KeyID, s.waitFor(ctx, seq)
}

// decideAnnounceSigningKey decides the announcement of key: its public
// half as a JWK, its kid the RFC 7638 thumbprint (so every instance
// loading the same key announces the same kid), created at now. A key
// stamp does not sign with is ErrUnsupportedKey.
func decideAnnounceSigningKey(_ noState, key crypto.Signer, now time.Time, _ io.Reader) (SigningKeyGenerated, error) {
	return SigningKeyGeneratedFor(key, now)
}
