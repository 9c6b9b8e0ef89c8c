package domain

import (
	"context"
	"errors"
	"time"
)

// Freshness brings this instance's read models up to date with the log,
// so that what any instance acknowledged before a request arrived is known
// here when it is answered (read-your-writes across instances).
//
// CatchUp returns nil once the local read models have applied every event
// the log had acknowledged when CatchUp was called. It returns ctx's error
// when ctx ends first, and another error when the log cannot tell its last
// sequence or the read models do not get there within the
// implementation's bound; it never waits without a bound. It must be safe
// for concurrent use.
type Freshness interface {
	CatchUp(ctx context.Context) error
}

// FreshnessRetry is the Retry-After of a request refused because the read
// models could not catch up with the log in time.
const FreshnessRetry = time.Second

// caughtUp marks a context whose request has caught up with the log: the
// read models hold everything acknowledged before the request arrived, so
// later checks of the same request need not ask again.
type caughtUp struct{}

// catchUp makes the read models current for the request of ctx (see
// Freshness) and returns ctx marked as caught up. Without a Freshness port
// (read_consistency local, or no read models) it does nothing, as it does
// for a context already caught up. When catching up fails it returns
// ctx's error if the caller is gone, otherwise a *RetryError wrapping
// ErrTemporarilyUnavailable: an answer from stale read models would be
// wrong, so none is given.
func (s *Service) catchUp(ctx context.Context) (context.Context, error) {
	if s.ports.Freshness == nil || ctx.Value(caughtUp{}) != nil {
		return ctx, nil
	}
	if err := s.ports.Freshness.CatchUp(ctx); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return ctx, cerr
		}
		return ctx, &RetryError{
			Err:   ErrTemporarilyUnavailable.WithDescription("this server is catching up with the event log; retry shortly"),
			After: FreshnessRetry,
		}
	}
	return context.WithValue(ctx, caughtUp{}, true), nil
}

// isCaughtUp reports whether ctx's request has caught up already, or needs
// not (no Freshness port): a lookup that found nothing is then final.
func (s *Service) isCaughtUp(ctx context.Context) bool {
	return s.ports.Freshness == nil || ctx.Value(caughtUp{}) != nil
}

// lookupFresh runs lookup and, when it finds nothing (ErrNotFound) before
// the request has caught up with the log, catches up and runs it again:
// "unknown" is answered only from read models holding everything
// acknowledged before the request arrived. A hit is returned as is (the
// cheap path); callers whose decision needs a hit's state to be current
// too catch up themselves.
func lookupFresh[T any](ctx context.Context, s *Service, lookup func(context.Context) (T, error)) (T, error) {
	v, err := lookup(ctx)
	if !errors.Is(err, ErrNotFound) || s.isCaughtUp(ctx) {
		return v, err
	}
	if ctx, err = s.catchUp(ctx); err != nil {
		var zero T
		return zero, err
	}
	return lookup(ctx)
}

// parseAccessToken is ParseAccessToken under the announced keys, a token
// that verified before answered from s.verified (which checks its key and
// its times again, see verifiedTokens). A token
// signed under a key this instance does not know (yet: announced by
// another instance) is parsed again after catching up. It returns the
// context to go on with (caught up when it had to).
func (s *Service) parseAccessToken(ctx context.Context, raw string, now time.Time, leeway time.Duration) (context.Context, Claims, error) {
	for {
		keys, err := s.verificationKeys(ctx, now)
		if err != nil {
			return ctx, Claims{}, err
		}
		claims, err := s.verified.parse(raw, s.cfg.Issuer, keys, now, leeway)
		if !errors.Is(err, errUnknownKey) || s.isCaughtUp(ctx) {
			return ctx, claims, err
		}
		if ctx, err = s.catchUp(ctx); err != nil {
			return ctx, Claims{}, err
		}
	}
}

// appliedSeq is what a Waiter may also tell: the highest sequence the
// read models have applied (projections.Runner).
type appliedSeq interface {
	Applied() uint64
}

// appliedMark returns the sequence the read models have applied, when the
// Waiter tells it. A read made after one mark and a catch-up that ends at
// the same mark saw the state the catch-up left: the read models publish
// a new applied sequence with every commit, so nothing changed between
// the two and the read needs not be made again.
func (s *Service) appliedMark() (uint64, bool) {
	a, ok := s.ports.Wait.(appliedSeq)
	if !ok {
		return 0, false
	}
	return a.Applied(), true
}
