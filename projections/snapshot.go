package projections

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// A snapshot is the whole store at one point, every key and value with the
// models' checkpoints, as one stream of bytes:
//
//	magic "stamp-projections-snapshot" 0x00, format version (1 byte)
//	the lowest checkpoint (uvarint)
//	per key, in key order: uvarint length, key, uvarint length, value
//	uvarint 0 (no key is empty)
//	SHA-256 of every byte before it (32 bytes)
//
// Restoring it gives a store whose Checksum equals the original's at the
// snapshot's point; a Runner or CatchUp carries on from its checkpoint.
// Where snapshots are kept, and who signs them, is the caller's business
// (cmd/stamp puts them in the event store's object store).

// ErrSnapshotMalformed: a snapshot could not be read back: cut short, not
// a snapshot, of an unknown format, or its checksum does not match.
var ErrSnapshotMalformed = errors.New("projections: snapshot malformed")

const (
	snapshotMagic   = "stamp-projections-snapshot\x00"
	snapshotVersion = 1
	// restoreBatchBytes bounds the Pebble batch a restore fills before it
	// commits, so that a restore's memory does not grow with the store.
	restoreBatchBytes = 4 << 20
)

// Snapshot is the store at one point, pinned until Close, to be written
// out (WriteTo) as a snapshot. Store.Close waits for it to be closed.
type Snapshot struct {
	s    *Store
	snap *pebble.Snapshot
	seq  uint64
}

// Snapshot pins the store's current state and returns it, at the lowest
// of the models' checkpoints (as Checkpoint); writers go on meanwhile.
// The caller must Close it, soon: the store cannot close before. It
// returns ErrClosed after Close. Safe for concurrent use.
func (s *Store) Snapshot() (*Snapshot, error) {
	if err := s.rlock(); err != nil {
		return nil, err
	}
	s.writeMu.Lock()
	snap, seq := s.db.NewSnapshot(), s.Checkpoint()
	s.writeMu.Unlock()
	return &Snapshot{s: s, snap: snap, seq: seq}, nil
}

// Seq returns the sequence the snapshot is at.
func (p *Snapshot) Seq() uint64 { return p.seq }

// Close releases the snapshot. A second Close does nothing.
func (p *Snapshot) Close() error {
	if p.snap == nil {
		return nil
	}
	err := p.snap.Close()
	p.snap = nil
	p.s.closeMu.RUnlock()
	return err
}

// WriteSnapshot writes a snapshot of the store (see above) to w and
// returns the sequence it is at, as Snapshot and WriteTo do.
func (s *Store) WriteSnapshot(w io.Writer) (uint64, error) {
	p, err := s.Snapshot()
	if err != nil {
		return 0, err
	}
	defer p.Close()
	if _, err := p.WriteTo(w); err != nil {
		return 0, err
	}
	return p.seq, nil
}

// WriteTo writes the snapshot (see above) to w and returns the bytes
// written. It returns w's error, a read's (wrapping ErrCorrupt for a
// damaged block), or ErrClosed after Close.
func (p *Snapshot) WriteTo(w io.Writer) (int64, error) {
	if p.snap == nil {
		return 0, ErrClosed
	}
	cw := &countingWriter{w: w}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(cw, h), 64<<10)
	var n [binary.MaxVarintLen64]byte
	uvarint := func(v uint64) { bw.Write(n[:binary.PutUvarint(n[:], v)]) }
	bw.WriteString(snapshotMagic)
	bw.WriteByte(snapshotVersion)
	uvarint(p.seq)
	it, err := p.snap.NewIter(nil)
	if err != nil {
		return cw.n, fmt.Errorf("projections: snapshot: %w", err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return cw.n, errors.Join(asCorrupt(fmt.Errorf("projections: snapshot: %w", err)), it.Close())
		}
		uvarint(uint64(len(it.Key())))
		bw.Write(it.Key())
		uvarint(uint64(len(v)))
		if _, err := bw.Write(v); err != nil {
			return cw.n, errors.Join(fmt.Errorf("projections: snapshot: write: %w", err), it.Close())
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return cw.n, asCorrupt(fmt.Errorf("projections: snapshot: %w", err))
	}
	uvarint(0)
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("projections: snapshot: write: %w", err)
	}
	if _, err := cw.Write(h.Sum(nil)); err != nil {
		return cw.n, fmt.Errorf("projections: snapshot: write: %w", err)
	}
	return cw.n, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// RestoreSnapshot builds a store in dir, which must not hold a store yet,
// from the snapshot r (as WriteSnapshot writes it), and returns it open
// and durable, at the snapshot's checkpoints. It returns an error wrapping
// ErrSnapshotMalformed for a snapshot it cannot read back whole (cut
// short, corrupt, of another format) and ErrLayout for one of another key
// layout; then, as on any failure, it closes the store, and dir holds a
// partial store the caller should remove. Memory stays bounded whatever
// the snapshot's size.
func RestoreSnapshot(ctx context.Context, dir string, opts Options, r io.Reader) (*Store, error) {
	s, err := open(dir, opts, true)
	if err != nil {
		return nil, err
	}
	if err := s.restore(ctx, r); err != nil {
		return nil, errors.Join(fmt.Errorf("projections: restore snapshot: %w", err), s.Close())
	}
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("projections: restore snapshot: %w", err)
	}
	return open(dir, opts, false)
}

// restore writes the snapshot r into s, a fresh store, and flushes it.
func (s *Store) restore(ctx context.Context, r io.Reader) error {
	raw := bufio.NewReaderSize(r, 64<<10)
	br := &hashingReader{r: raw, h: sha256.New()}
	malformed := func(what string, err error) error {
		if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: %s", ErrSnapshotMalformed, what)
		}
		return fmt.Errorf("%w: %s: %w", ErrSnapshotMalformed, what, err)
	}
	head := make([]byte, len(snapshotMagic)+1)
	if _, err := io.ReadFull(br, head); err != nil || string(head[:len(snapshotMagic)]) != snapshotMagic {
		return malformed("not a snapshot", err)
	}
	if head[len(snapshotMagic)] != snapshotVersion {
		return malformed(fmt.Sprintf("format %d, want %d", head[len(snapshotMagic)], snapshotVersion), nil)
	}
	if _, err := binary.ReadUvarint(br); err != nil {
		return malformed("checkpoint", err)
	}
	batch := s.db.NewBatch()
	defer func() { batch.Close() }()
	var layout []byte
	for {
		klen, err := binary.ReadUvarint(br)
		if err != nil {
			return malformed("key length", err)
		}
		if klen == 0 {
			break
		}
		if klen > 1<<20 {
			return malformed(fmt.Sprintf("key of %d bytes", klen), nil)
		}
		key := make([]byte, klen)
		if _, err := io.ReadFull(br, key); err != nil {
			return malformed("key", err)
		}
		vlen, err := binary.ReadUvarint(br)
		if err != nil || vlen > 1<<30 {
			return malformed("value length", err)
		}
		val := make([]byte, vlen)
		if _, err := io.ReadFull(br, val); err != nil {
			return malformed("value", err)
		}
		if string(key) == keyLayout {
			layout = val
		}
		if err := batch.Set(key, val, nil); err != nil {
			return err
		}
		if batch.Len() >= restoreBatchBytes {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := batch.Commit(pebble.NoSync); err != nil {
				return err
			}
			batch.Close()
			batch = s.db.NewBatch()
		}
	}
	// Every byte read through br so far is hashed; the checksum is not.
	want := br.h.Sum(nil)
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(raw, got); err != nil {
		return malformed("checksum", err)
	}
	if !bytes.Equal(got, want) {
		return malformed("checksum mismatch", nil)
	}
	// Read to the end, so that a reader that checks its own digest there
	// (the object store's) does.
	if extra, err := io.Copy(io.Discard, raw); err != nil || extra > 0 {
		return malformed(fmt.Sprintf("%d bytes after the checksum", extra), err)
	}
	if string(layout) != layoutVersion {
		return fmt.Errorf("%w: snapshot of layout %q, want %q", ErrLayout, layout, layoutVersion)
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return err
	}
	return s.db.Flush()
}

// RebuildFromSnapshot is Rebuild starting from the snapshot r instead of
// the first event: it restores r in dir (see RestoreSnapshot, whose errors
// it returns), then replays the log from the snapshot's checkpoint + 1.
// The caller vouches for r (cmd/stamp checks its signature); the events
// after it are read, and checked, as by Rebuild.
func RebuildFromSnapshot(ctx context.Context, dir string, opts Options, r io.Reader, src Replayer, progress func(done, total uint64)) (*Store, error) {
	s, err := RestoreSnapshot(ctx, dir, opts, r)
	if err != nil {
		return nil, err
	}
	if err := s.CatchUp(ctx, src, progress); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	if err := s.db.Flush(); err != nil {
		return nil, errors.Join(fmt.Errorf("projections: rebuild: flush: %w", err), s.Close())
	}
	return s, nil
}

// hashingReader hashes every byte read through it.
type hashingReader struct {
	r *bufio.Reader
	h hash.Hash
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

func (h *hashingReader) ReadByte() (byte, error) {
	b, err := h.r.ReadByte()
	if err == nil {
		h.h.Write([]byte{b})
	}
	return b, err
}
