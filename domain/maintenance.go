package domain

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"
)

// Purge records TokensPurged: every read model drops the access tokens and
// refresh families revoked (revoked) or expired (expired) more than
// olderThan ago, as passport:purge --revoked --expired --hours. The log
// keeps every event. At least one of revoked and expired must be set.
func (s *Service) Purge(ctx context.Context, actor Actor, revoked, expired bool, olderThan time.Duration) (TokensPurged, error) {
	if !revoked && !expired {
		return TokensPurged{}, invalid("purge", "choose revoked, expired or both")
	}
	if olderThan < 0 {
		return TokensPurged{}, invalid("hours", "must not be negative")
	}
	id, err := NewID(s.cfg.Random)
	if err != nil {
		return TokensPurged{}, err
	}
	e := TokensPurged{PurgeID: id, Before: s.cfg.Now().UTC().Add(-olderThan), Revoked: revoked, Expired: expired}
	_, err = s.record(ctx, ExpectNew, actor, e)
	return e, err
}

// MaxTokenLifetime returns the longest lifetime of any token this service
// signs: how long a retired key must keep verifying.
func (s *Service) MaxTokenLifetime() time.Duration {
	return max(s.cfg.AccessToken, s.cfg.ClientCredentials)
}

// retireMargin covers tokens signed with a retired key by instances that
// have not switched yet, and clock skew.
const retireMargin = 5 * time.Minute

// RotateSigningKey announces next and retires every other announced key
// that is not retired yet. A retired key stays in the JWKS until every
// token it can have signed has expired: now + the longest token lifetime +
// a margin. The announcement is appended before the retirements, so a
// failure between them leaves an extra key in the JWKS, never a missing
// one; running the rotation again finishes it. It returns the new kid and
// the retired ones.
func (s *Service) RotateSigningKey(ctx context.Context, actor Actor, next crypto.Signer) (string, []string, error) {
	kid, err := s.AnnounceSigningKey(ctx, actor, next)
	if err != nil {
		return "", nil, err
	}
	if s.ports.Keys == nil {
		return "", nil, errors.New("domain: rotation needs the key read model")
	}
	keys, err := s.ports.Keys.SigningKeys(ctx)
	if err != nil {
		return "", nil, err
	}
	now := s.cfg.Now().UTC()
	var retired []string
	for _, k := range keys {
		if k.ID == kid || k.Retired {
			continue
		}
		e := SigningKeyRetired{KeyID: k.ID, RetiredAt: now, VerifyUntil: now.Add(s.MaxTokenLifetime() + retireMargin)}
		_, err := s.record(ctx, ExpectSeq(k.Seq), actor, e)
		if err != nil && !errors.Is(err, ErrConflict) {
			return kid, retired, fmt.Errorf("domain: retire key %s: %w", k.ID, err)
		}
		retired = append(retired, k.ID)
	}
	return kid, retired, nil
}
