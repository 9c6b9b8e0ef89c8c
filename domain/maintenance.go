package domain

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"io"
	"time"
)

// Purge records TokensPurged: every read model drops the access tokens and
// refresh families revoked (revoked) or expired (expired) more than
// olderThan ago, as passport:purge --revoked --expired --hours. The log
// keeps every event. At least one of revoked and expired must be set.
func (s *Service) Purge(ctx context.Context, actor Actor, revoked, expired bool, olderThan time.Duration) (TokensPurged, error) {
	e, err := decidePurge(noState{}, purge{Revoked: revoked, Expired: expired, OlderThan: olderThan}, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return TokensPurged{}, err
	}
	_, err = s.record(ctx, ExpectNew, actor, e)
	return e, err
}

// purge is the command of Purge.
type purge struct {
	Revoked   bool
	Expired   bool
	OlderThan time.Duration
}

// decidePurge decides a purge (passport:purge): revoked, expired or both
// (neither is a *ValidationError on "purge"), of what ended more than
// OlderThan (not negative: a *ValidationError on "hours") before now. The
// purge is its own aggregate, with a new id from rnd.
func decidePurge(_ noState, cmd purge, now time.Time, rnd io.Reader) (TokensPurged, error) {
	if !cmd.Revoked && !cmd.Expired {
		return TokensPurged{}, invalid("purge", "choose revoked, expired or both")
	}
	if cmd.OlderThan < 0 {
		return TokensPurged{}, invalid("hours", "must not be negative")
	}
	id, err := NewID(rnd)
	if err != nil {
		return TokensPurged{}, err
	}
	return TokensPurged{PurgeID: id, Before: now.UTC().Add(-cmd.OlderThan), Revoked: cmd.Revoked, Expired: cmd.Expired}, nil
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
	retirements, err := decideRotateSigningKey(keys, keyRotation{Next: kid, MaxTokenLifetime: s.MaxTokenLifetime()}, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return kid, nil, err
	}
	var retired []string
	for _, r := range retirements {
		_, err := s.record(ctx, ExpectSeq(r.Seq), actor, r.Event)
		if err != nil && !errors.Is(err, ErrConflict) {
			return kid, retired, fmt.Errorf("domain: retire key %s: %w", r.Event.KeyID, err)
		}
		retired = append(retired, r.Event.KeyID)
	}
	return kid, retired, nil
}

// keyRotation is the command of RotateSigningKey once the next key is
// announced: its kid, and the longest lifetime of a token signed now.
type keyRotation struct {
	Next             string
	MaxTokenLifetime time.Duration
}

// keyRetirement retires one key, expecting the key's sequence (a conflict
// means another rotation retired it meanwhile).
type keyRetirement struct {
	Event SigningKeyRetired
	Seq   uint64
}

// decideRotateSigningKey decides a key rotation over state, the announced
// keys: every key but the next one and those retired already is retired
// at now, and keeps verifying until every token it can have signed has
// expired (now + the longest token lifetime + retireMargin, for instances
// that have not switched yet and clock skew).
func decideRotateSigningKey(state []SigningKey, cmd keyRotation, now time.Time, _ io.Reader) ([]keyRetirement, error) {
	now = now.UTC()
	var out []keyRetirement
	for _, k := range state {
		if k.ID == cmd.Next || k.Retired {
			continue
		}
		out = append(out, keyRetirement{Seq: k.Seq, Event: SigningKeyRetired{KeyID: k.ID, RetiredAt: now, VerifyUntil: now.Add(cmd.MaxTokenLifetime + retireMargin)}})
	}
	return out, nil
}
