package domain

import (
	"context"
	"errors"
	"io"
	"time"
)

// LookupUserCode finds the pending device authorization a user code
// names, as user typed it from address remote. Errors: ErrInvalidGrant
// for an unknown, used or expired code.
//
// User codes are short enough to guess (RFC 8628 §5.1), so wrong codes
// are counted (Limits) per address and per user (a user, rather than a
// session: a new login makes a new session, not a new user). While either
// is spent the answer is a *RetryError wrapping ErrRateLimited, before
// the code is looked up.
func (s *Service) LookupUserCode(ctx context.Context, user User, userCode, remote string) (DevicePrompt, error) {
	keys := []limitKey{{s.cfg.Limits.UserCodeAddress, addressKey(remote)}, {s.cfg.Limits.UserCodeUser, user.ID}}
	if err := s.limited(ctx, keys...); err != nil {
		return DevicePrompt{}, err
	}
	state, err := s.loadUserCode(ctx, userCode)
	if err != nil {
		return DevicePrompt{}, err
	}
	p, err := decideUserCodeEntry(state, userCode, s.cfg.Now(), s.cfg.Random)
	if errors.Is(err, ErrInvalidGrant) {
		if ferr := s.failed(ctx, keys...); ferr != nil {
			return DevicePrompt{}, ferr
		}
	}
	return p, err
}

// userCodeState is what the entry of a user code decides on: the device
// code the typed code's hash names and its client (the zero values when
// there is none), and the scope catalogue.
type userCodeState struct {
	Code   DeviceCode
	Client Client
	Scopes *Scopes
}

// loadUserCode loads the userCodeState of a typed user code, catching up
// with the log before it answers that there is no such code (see
// lookupFresh).
func (s *Service) loadUserCode(ctx context.Context, userCode string) (userCodeState, error) {
	state := userCodeState{Scopes: s.cfg.Scopes}
	norm := NormalizeUserCode(userCode)
	if len(norm) != userCodeLength { // the decision refuses it: nothing to load
		return state, nil
	}
	d, err := lookupFresh(ctx, s, func(ctx context.Context) (DeviceCode, error) {
		return s.ports.Grants.DeviceCodeByUserCodeHash(ctx, HashSecret(norm))
	})
	if errors.Is(err, ErrNotFound) {
		return state, nil
	}
	if err != nil {
		return state, err
	}
	state.Code = d
	if c, err := s.ports.Clients.Client(ctx, d.ClientID); err == nil {
		state.Client = c
	}
	return state, nil
}

// userCodeLength is the length of a user code, normalised (NormalizeUserCode).
const userCodeLength = 8

// decideUserCodeEntry decides what a user who typed cmd, a user code, is
// shown (RFC 8628 §3.3): the pending device authorization it names, with
// its client and the descriptions of its scopes. A code of the wrong
// length, unknown, no longer pending (approved, denied or used), expired
// at now, or whose client is gone is ErrInvalidGrant, one answer for all;
// the shell counts it against the user-code limits (§5.1).
func decideUserCodeEntry(state userCodeState, cmd string, now time.Time, _ io.Reader) (DevicePrompt, error) {
	bad := ErrInvalidGrant.WithDescription("the code is unknown, used or expired")
	d := state.Code
	switch {
	case len(NormalizeUserCode(cmd)) != userCodeLength, d.ID == "":
		return DevicePrompt{}, bad
	case d.Status != DevicePending || !now.Before(d.ExpiresAt):
		return DevicePrompt{}, bad
	case !state.Client.Exists():
		return DevicePrompt{}, bad
	}
	p := DevicePrompt{Code: d, Client: state.Client}
	for _, id := range d.Scopes {
		desc, _ := state.Scopes.Describe(id)
		p.Scopes = append(p.Scopes, desc)
	}
	return p, nil
}
