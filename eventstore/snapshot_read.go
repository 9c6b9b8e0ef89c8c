package eventstore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"github.com/nats-io/nats.go/jetstream"
)

// snapshotReadAhead is how many chunks of a snapshot (128 KiB each, the
// object store's default) a read fetches ahead of the reader.
const snapshotReadAhead = 8

// snapshotReader reads a snapshot's chunks through an ordered pull
// consumer that fetches snapshotReadAhead chunks ahead of the reader, so a
// restore holds a megabyte of the snapshot in memory, not the whole of it:
// the object store's Get pushes every chunk as fast as the server sends
// them, to wait in memory for a reader that writes them into Pebble more
// slowly (358 MB of Go heap for a 328 MB snapshot). It checks what the
// object store's reader checks: every chunk in order, the size, and the
// SHA-256 against the object's digest at the end (ErrSnapshotInvalid).
type snapshotReader struct {
	info   *jetstream.ObjectInfo
	msgs   jetstream.MessagesContext
	stop   func() bool // stops the context watch
	cancel context.CancelFunc
	sum    hash.Hash
	chunks uint32
	size   uint64
	buf    []byte
	err    error
}

// readSnapshot opens the chunks of the object info describes in the
// bucket's stream; ctx bounds the whole read.
func (s *Store) readSnapshot(ctx context.Context, info *jetstream.ObjectInfo, cancel context.CancelFunc) (io.ReadCloser, error) {
	stream := "OBJ_" + SnapshotBucket
	cons, err := s.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"$O." + SnapshotBucket + ".C." + info.NUID},
	})
	if err != nil {
		return nil, fmt.Errorf("eventstore: open snapshot %s: %w", info.Name, err)
	}
	msgs, err := cons.Messages(jetstream.PullMaxMessages(snapshotReadAhead))
	if err != nil {
		return nil, fmt.Errorf("eventstore: open snapshot %s: %w", info.Name, err)
	}
	r := &snapshotReader{info: info, msgs: msgs, cancel: cancel, sum: sha256.New()}
	// Next blocks until a chunk comes: the end of ctx stops it.
	r.stop = context.AfterFunc(ctx, msgs.Stop)
	return r, nil
}

func (r *snapshotReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.chunks == r.info.Chunks {
			r.err = r.finish()
			return 0, r.err
		}
		m, err := r.msgs.Next()
		if err != nil {
			r.err = fmt.Errorf("eventstore: snapshot %s: chunk %d of %d: %w", r.info.Name, r.chunks+1, r.info.Chunks, err)
			return 0, r.err
		}
		r.chunks++
		r.size += uint64(len(m.Data()))
		r.sum.Write(m.Data())
		r.buf = m.Data()
		// A chunk lost from the stream would leave Next waiting for
		// one that never comes: the last chunk there is ends the read.
		if meta, err := m.Metadata(); err == nil && meta.NumPending == 0 && r.chunks < r.info.Chunks {
			r.err = fmt.Errorf("eventstore: snapshot %s: %w: %d of its %d chunks are stored", r.info.Name, ErrSnapshotInvalid, r.chunks, r.info.Chunks)
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// finish checks the size and digest once every chunk is read: io.EOF when
// they match.
func (r *snapshotReader) finish() error {
	digest := objectDigest(r.sum)
	switch {
	case r.size != r.info.Size:
		return fmt.Errorf("eventstore: snapshot %s: %w: %d bytes in its chunks, %d in its info", r.info.Name, ErrSnapshotInvalid, r.size, r.info.Size)
	case digest != r.info.Digest:
		return fmt.Errorf("eventstore: snapshot %s: %w: its contents hash to %s, its info says %s", r.info.Name, ErrSnapshotInvalid, digest, r.info.Digest)
	}
	return io.EOF
}

// Close stops the consumer; it returns nil (a failed read said why).
func (r *snapshotReader) Close() error {
	r.stop()
	r.msgs.Stop()
	r.cancel()
	return nil
}
