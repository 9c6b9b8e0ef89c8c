package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// UnavailableRetryAfter is the wait an error of the event log being
// unavailable suggests to the client (domain.RetryError.After): about what
// a JetStream leader election takes.
const UnavailableRetryAfter = 2 * time.Second

// errLogUnavailable is the domain error a transient NATS failure becomes.
var errLogUnavailable = domain.ErrTemporarilyUnavailable.WithDescription("the event log is unavailable; retry later")

// JetStream API error codes that mean "not now" rather than "never": the
// cluster or the stream has no leader, or is catching up. See nats-server
// server/errors.json.
const (
	errCodeClusterNoPeers        jetstream.ErrorCode = 10005 // JSClusterNoPeersErrF: no suitable peers (one is down)
	errCodeClusterNotAvail       jetstream.ErrorCode = 10008 // JSClusterNotAvailErr: JetStream system temporarily unavailable
	errCodeClusterNotLeader      jetstream.ErrorCode = 10009 // JSClusterNotLeaderErr: JetStream cluster can not handle request
	errCodeStreamOffline         jetstream.ErrorCode = 10118 // JSStreamOfflineErr
	errCodeConsumerOffline       jetstream.ErrorCode = 10119 // JSConsumerOfflineErr
	errCodeStreamOfflineReason   jetstream.ErrorCode = 10194 // JSStreamOfflineReasonErrF
	errCodeConsumerOfflineReason jetstream.ErrorCode = 10195 // JSConsumerOfflineReasonErrF
)

// transient reports whether err is a NATS or JetStream failure that passes
// by itself: no responders, no response from the stream (a leader is being
// elected), a request timeout, a lost or reconnecting connection, a missed
// heartbeat, a leadership change, and JetStream API errors with status 503
// or the codes of a cluster without a leader. Caller errors (a context that
// ended) are not transient: they belong to the caller.
func transient(err error) bool {
	if err == nil {
		return false
	}
	for _, e := range []error{
		nats.ErrNoResponders, jetstream.ErrNoStreamResponse, nats.ErrTimeout,
		nats.ErrConnectionClosed, nats.ErrConnectionReconnecting, nats.ErrDisconnected,
		nats.ErrNoServers, nats.ErrStaleConnection, nats.ErrConnectionDraining,
		jetstream.ErrNoHeartbeat, jetstream.ErrConsumerLeadershipChanged, jetstream.ErrServerShutdown,
		jetstream.ErrConnectionClosed, jetstream.ErrJetStreamNotEnabled,
		jetstream.ErrAsyncPublishTimeout, nats.ErrJetStreamNotEnabled,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		if apiErr.Code == http.StatusServiceUnavailable {
			return true
		}
		switch apiErr.ErrorCode {
		case errCodeClusterNoPeers, errCodeClusterNotAvail, errCodeClusterNotLeader,
			errCodeStreamOffline, errCodeConsumerOffline, errCodeStreamOfflineReason, errCodeConsumerOfflineReason:
			return true
		}
	}
	return false
}

// unavailable maps err once, at the Store's boundary: a transient NATS
// failure (see transient) becomes a *domain.RetryError whose Err matches
// domain.ErrTemporarilyUnavailable and still wraps err (errors.Is finds
// both), so that the HTTP adapter answers 503 with Retry-After; any other
// error, and nil, is returned unchanged.
func unavailable(err error) error {
	if !transient(err) {
		return err
	}
	var retry *domain.RetryError
	if errors.As(err, &retry) {
		return err // mapped already
	}
	return &domain.RetryError{Err: fmt.Errorf("%w: %w", err, errLogUnavailable), After: UnavailableRetryAfter}
}

// Bounds of the pause between two attempts of an idempotent operation.
const (
	retryPauseMin = 25 * time.Millisecond
	retryPauseMax = 500 * time.Millisecond
)

// retrying runs op until it returns something other than a transient error
// (see transient), the Store is closed, or ctx — given DefaultTimeout when
// it has none — leaves no time for another attempt; it pauses between
// attempts, doubling from retryPauseMin up to retryPauseMax with full
// jitter, so that instances retrying after a leader election do not ask in
// step. When ctx ends while the connection is down, the result is the
// RetryError of unavailable too. Only idempotent operations may go through it: an append whose
// envelope ids are message ids (deduplicated by the stream, and looked up
// after a conflict), and reads. It returns op's last result, mapped by
// unavailable.
func retrying[T any](ctx context.Context, s *Store, op func(context.Context) (T, error)) (T, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	pause := retryPauseMin
	for {
		v, err := op(ctx)
		if err != nil && ctx.Err() != nil && !s.closed.Load() && !s.nc.IsConnected() {
			// The deadline passed while NATS was unreachable: that, not
			// the caller's patience, is the cause.
			return v, &domain.RetryError{Err: fmt.Errorf("%w: %w", err, errLogUnavailable), After: UnavailableRetryAfter}
		}
		if !transient(err) || s.closed.Load() || s.nc.IsClosed() || ctx.Err() != nil {
			return v, unavailable(err)
		}
		wait := rand.N(pause) + time.Millisecond
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			return v, unavailable(err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return v, unavailable(err)
		}
		pause = min(2*pause, retryPauseMax)
	}
}
