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
	wctx, cancel := context.WithTimeout(ctx, s.cfg.ProjectionWait)
	defer cancel()
	err := s.ports.Wait.WaitFor(wctx, seq)
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && wctx.Err() != nil:
		return &RetryError{Err: fmt.Errorf("domain: wait for projection at %d: %w: %w", seq, errProjectionBehind, err), After: projectionRetryAfter}
	default:
		return fmt.Errorf("domain: wait for projection at %d: %w", seq, err)
	}
}
