package domain

import (
	"context"
	"errors"
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
	p, err := s.lookupUserCode(ctx, userCode)
	if errors.Is(err, ErrInvalidGrant) {
		if ferr := s.failed(ctx, keys...); ferr != nil {
			return DevicePrompt{}, ferr
		}
	}
	return p, err
}
