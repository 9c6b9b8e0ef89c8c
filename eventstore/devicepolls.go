package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// DevicePollBucket is the JetStream key-value bucket that holds when each
// device code last polled, shared by every instance on the stream.
const DevicePollBucket = "STAMP_DEVICE_POLL"

// DevicePollOptions configure DevicePolls.
type DevicePollOptions struct {
	// TTL is how long the bucket keeps a device code's last poll: the
	// device code lifetime (domain.Lifetimes.DeviceCode). Required.
	TTL time.Duration
	// Fallback answers when the bucket cannot be reached; nil returns the
	// error instead.
	Fallback domain.DevicePolls
	// Logger reports outages of the bucket (once each); slog.Default if
	// nil.
	Logger *slog.Logger
}

// Validate reports the first problem with o, or nil; it only checks.
func (o DevicePollOptions) Validate() error {
	if o.TTL <= 0 {
		return errors.New("eventstore: device polls: TTL is required")
	}
	return nil
}

// withDefaults returns o with every zero field set to its default.
func (o DevicePollOptions) withDefaults() DevicePollOptions {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// DevicePolls is domain.DevicePolls for a whole cluster: one key per
// device code id in the DevicePollBucket, whose value is the time of its
// last poll, so a device polling instance B right after instance A gets
// slow_down (RFC 8628 §3.5). Each poll is a read and a compare-and-set
// write (polls come every few seconds, not on a hot path); of two
// concurrent polls one wins and the other sees its time. When the bucket
// cannot be reached, Fallback answers and the outage is logged once at
// warn.
//
// It is safe for concurrent use and lives as long as the Store it was
// made from.
type DevicePolls struct {
	kv    jetstream.KeyValue
	opts  DevicePollOptions
	avail *availability
}

var _ domain.DevicePolls = (*DevicePolls)(nil)

// DevicePolls creates the DevicePollBucket, or updates its configuration
// (TTL, replicas). It fails when opts are invalid (see Validate) or the
// bucket cannot be created (for instance without permission on it).
func (s *Store) DevicePolls(ctx context.Context, opts DevicePollOptions) (*DevicePolls, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	kv, err := s.stateBucket(ctx, DevicePollBucket, "stamp: when each device code last polled (RFC 8628 slow_down)", opts.TTL)
	if err != nil {
		return nil, fmt.Errorf("eventstore: device polls: %w", err)
	}
	return &DevicePolls{kv: kv, opts: opts, avail: &availability{bucket: DevicePollBucket, logger: opts.Logger, nc: s.nc}}, nil
}

// SwapPoll records a poll of device code id at now and returns the
// previous poll's time (zero if none).
func (p *DevicePolls) SwapPoll(ctx context.Context, id string, now time.Time) (time.Time, error) {
	if !p.avail.usable() {
		return p.fallback(ctx, id, now, errors.New("not connected"))
	}
	k := stateKey("d.", id)
	value := strconv.AppendInt(nil, now.UnixNano(), 10)
	sctx, cancel := stateContext(ctx)
	defer cancel()
	for range maxCASAttempts {
		var prev time.Time
		var rev uint64
		e, err := p.kv.Get(sctx, k)
		switch {
		case err == nil:
			rev = e.Revision()
			if ns, err := strconv.ParseInt(string(e.Value()), 10, 64); err == nil {
				prev = time.Unix(0, ns)
			}
		case errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			return p.fallback(ctx, id, now, err)
		}
		if rev == 0 {
			_, err = p.kv.Create(sctx, k, value)
		} else {
			_, err = p.kv.Update(sctx, k, value, rev)
		}
		if err == nil {
			p.avail.up()
			return prev, nil
		}
		if !isConflict(err) {
			return p.fallback(ctx, id, now, err)
		}
	}
	return p.fallback(ctx, id, now, fmt.Errorf("%d conflicts in a row", maxCASAttempts))
}

func (p *DevicePolls) fallback(ctx context.Context, id string, now time.Time, cause error) (time.Time, error) {
	if p.opts.Fallback == nil {
		return time.Time{}, fmt.Errorf("eventstore: device polls: %w", cause)
	}
	p.avail.down(cause)
	return p.opts.Fallback.SwapPoll(ctx, id, now)
}
