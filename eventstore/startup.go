package eventstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// StartupTimeout bounds how long Open, and the creation of the key-value
// buckets, keep trying while a cluster is still electing its leaders (a
// fresh cluster, or one that lost a node), when the caller's context has
// no deadline of its own.
const StartupTimeout = 30 * time.Second

// startup runs op, an idempotent step of opening the store (create or
// update a stream or bucket, read or append the log-signing announcement),
// until it succeeds, fails for a reason that does not pass by itself, or
// ctx (StartupTimeout when it has no deadline) ends. Each attempt gets at
// most DefaultTimeout, so that one request the cluster never answers does
// not use up the whole budget; an attempt that ran out of its own time is
// tried again like a transient failure. It returns op's last error.
func startup[T any](ctx context.Context, op func(context.Context) (T, error)) (T, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, StartupTimeout)
		defer cancel()
	}
	pause := retryPauseMin
	for {
		actx, cancel := context.WithTimeout(ctx, DefaultTimeout)
		v, err := op(actx)
		cancel()
		ownTimeout := errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		if err == nil || (!transient(err) && !ownTimeout) || ctx.Err() != nil {
			return v, err
		}
		t := time.NewTimer(rand.N(pause) + time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return v, err
		}
		pause = min(2*pause, retryPauseMax)
	}
}
