package eventstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultStateTimeout bounds one request to a state bucket (LimitsBucket,
// DevicePollBucket) whose context has no shorter deadline: past it, the
// caller falls back to its own process's state rather than keep a client
// waiting.
const DefaultStateTimeout = 2 * time.Second

// maxCASAttempts bounds the compare-and-set rounds of one write to a state
// bucket; past it (a key written by many instances at once) the write
// counts in the fallback.
const maxCASAttempts = 8

// stateBucket creates the key-value bucket name, or updates its
// configuration: history 1, file storage, the stream's replicas, and ttl
// (how long a key is kept after its last write; 0 is forever).
//
// It waits at most DefaultTimeout, whatever ctx allows: a request the
// connection may not send (no permission on the bucket) gets no answer.
func (s *Store) stateBucket(ctx context.Context, name, description string, ttl time.Duration) (jetstream.KeyValue, error) {
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	replicas := DefaultReplicas
	if info := s.stream.CachedInfo(); info != nil && info.Config.Replicas > 0 {
		replicas = info.Config.Replicas
	}
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: description,
		History:     1,
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("eventstore: bucket %s: %w", name, err)
	}
	return kv, nil
}

// stateKey returns a valid key-value key for the words: their SHA-256 (the
// first 128 bits, hex), prefixed with prefix.
func stateKey(prefix string, words ...string) string {
	h := sha256.New()
	for _, w := range words {
		h.Write([]byte(w))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return prefix + hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// isConflict reports whether err is a compare-and-set conflict of Create
// or Update: another write came first.
func isConflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// availability logs, once per outage, that a state bucket cannot be used
// and the process counts on its own, and once when it can again.
type availability struct {
	bucket   string
	logger   *slog.Logger
	nc       *nats.Conn
	degraded atomic.Bool
}

// usable reports whether a request to the bucket is worth sending: the
// connection is up. When it is not, it marks the outage.
func (a *availability) usable() bool {
	if a.nc.Status() == nats.CONNECTED {
		return true
	}
	a.down(fmt.Errorf("nats connection %s", a.nc.Status()))
	return false
}

func (a *availability) down(err error) {
	if a.degraded.CompareAndSwap(false, true) {
		a.logger.Warn("cluster state unavailable: counting in this process only until it is back",
			"bucket", a.bucket, "err", err)
	}
}

func (a *availability) up() {
	if a.degraded.CompareAndSwap(true, false) {
		a.logger.Info("cluster state available again", "bucket", a.bucket)
	}
}

// stateContext bounds ctx by DefaultStateTimeout.
func stateContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, DefaultStateTimeout)
}
