package domain

import (
	"context"
	"fmt"
	"time"
)

// DefaultProjectionWait is Config.ProjectionWait's default.
const DefaultProjectionWait = 5 * time.Second

// projectionRetryAfter is the wait suggested when the read models did not
// apply an append in time.
const projectionRetryAfter = 2 * time.Second

// errProjectionBehind is the refusal of a command whose append was
// acknowledged but not applied by the local read models in time.
var errProjectionBehind = ErrTemporarilyUnavailable.WithDescription("the change was recorded, but this server's read models are behind; retry later")

// waitFor waits, at most Config.ProjectionWait, until the local read
// models have applied seq, so that the caller reads its own write. When
// that bound passes first (the read models are stalled or far behind) it
// returns a *RetryError wrapping ErrTemporarilyUnavailable, never blocking
// longer: the append stays recorded and the read models apply it once they
// move again. When ctx ends first it returns ctx's error; other failures of
// the Waiter are returned wrapped.
func (s *Service) waitFor(ctx context.Context, seq uint64) error {
	return WaitApplied(ctx, s.ports.Wait, seq, s.cfg.ProjectionWait)
}

// WaitApplied waits until w has applied seq, for at most within: past it
// the answer is a *RetryError wrapping ErrTemporarilyUnavailable (503 with
// Retry-After), never a bare deadline; ctx's own end is returned as it is.
func WaitApplied(ctx context.Context, w Waiter, seq uint64, within time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	err := w.WaitFor(wctx, seq)
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && wctx.Err() != nil:
		return &RetryError{Err: fmt.Errorf("domain: wait for projection at %d: %w: %w", seq, errProjectionBehind, err), After: projectionRetryAfter}
	default:
		return fmt.Errorf("domain: wait for projection at %d: %w", seq, err)
	}
}
