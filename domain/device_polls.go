package domain

import (
	"context"
	"time"
)

// DefaultDeviceCodeLifetime is how long a device code is valid when
// Lifetimes.DeviceCode is zero (RFC 8628 §3.2 expires_in).
const DefaultDeviceCodeLifetime = 10 * time.Minute

// DevicePolls remembers when each device code last polled the token
// endpoint, so that a device polling sooner than its interval gets
// slow_down (RFC 8628 §3.5). Polls change no state worth an event, so it
// is not in the log: a cluster shares it in a store of its own (DESIGN.md
// principle 6), a single process may keep it in memory
// (NewLocalDevicePolls). Entries may be forgotten once the device code has
// expired. Implementations are safe for concurrent use; an error is a
// failure of the store.
type DevicePolls interface {
	// SwapPoll records a poll of device code id at now and returns the
	// time of the poll before it, the zero time if there was none. Two
	// concurrent polls of one id are ordered: one of them sees the
	// other's time.
	SwapPoll(ctx context.Context, id string, now time.Time) (time.Time, error)
}
