package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/memlimit"
	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// clusterState is the state a node shares with every instance on the
// stream without it being history (DESIGN.md principle 6): the rate
// limits' buckets and the device codes' last polls, in JetStream
// key-value buckets, each falling back to this process's memory when its
// bucket cannot be reached.
type clusterState struct {
	limiter domain.Limiter
	polls   domain.DevicePolls
	closer  *eventstore.Limiter // nil when limiting per process
}

// openClusterState opens the STAMP_LIMITS and STAMP_DEVICE_POLL buckets.
// A bucket that cannot be opened (no permission on it, say) is logged at
// warn and replaced by this process's memory: the node still starts, and
// limits per process. The TTLs follow the service's defaults, which the
// node does not change: the longest refill of domain.DefaultLimits, and
// domain.DefaultDeviceCodeLifetime.
func openClusterState(ctx context.Context, store *eventstore.Store, logger *slog.Logger) clusterState {
	local := memlimit.New(time.Now, memlimit.DefaultMaxBuckets)
	localPolls := domain.NewLocalDevicePolls()
	s := clusterState{limiter: local, polls: localPolls}
	l, err := store.Limiter(ctx, eventstore.LimiterOptions{
		TTL: domain.Limits{}.LongestRefill(), Fallback: local, Logger: logger,
	})
	if err != nil {
		logger.Warn("rate limits count in this process only", "err", err)
	} else {
		s.limiter, s.closer = l, l
	}
	p, err := store.DevicePolls(ctx, eventstore.DevicePollOptions{
		TTL: domain.DefaultDeviceCodeLifetime, Fallback: localPolls, Logger: logger,
	})
	if err != nil {
		logger.Warn("device polls are remembered in this process only", "err", err)
	} else {
		s.polls = p
	}
	return s
}

// close stops following the limits bucket.
func (s clusterState) close() {
	if s.closer != nil {
		s.closer.Close()
	}
}
