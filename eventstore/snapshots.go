package eventstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// SnapshotBucket is the object store bucket that holds read-model
// snapshots (stream OBJ_STAMP_SNAPSHOTS); the writer may use it (see
// ObjectBuckets).
const SnapshotBucket = "STAMP_SNAPSHOTS"

// snapshotReadTimeout bounds reading a snapshot whose context has no
// deadline.
const snapshotReadTimeout = time.Hour

// snapshotsKept is how many snapshots PutSnapshot keeps: the newest, and
// one before it in case the newest turns out damaged.
const snapshotsKept = 2

// snapshotSigningSubject is the "subject" a snapshot's signature is made
// over (domain.SignLogEvent), so that no event's signature can pass for a
// snapshot's and back.
const snapshotSigningSubject = "$snapshot"

// Headers of a snapshot object.
const (
	hdrSnapshotSeq = "Stamp-Snapshot-Seq"
)

// Errors of snapshots.
var (
	// ErrNoSnapshot: the bucket holds no snapshot this Store accepts.
	ErrNoSnapshot = errors.New("eventstore: no snapshot")
	// ErrSnapshotInvalid: a snapshot's signature is missing or bad, or its
	// contents do not match its checksum.
	ErrSnapshotInvalid = errors.New("eventstore: snapshot invalid")
)

// objectDigest is h's sum as the object store writes an object's digest
// ("SHA-256=<base64url>").
func objectDigest(h hash.Hash) string {
	return "SHA-256=" + base64.URLEncoding.EncodeToString(h.Sum(nil))
}

// SnapshotInfo describes one stored snapshot.
type SnapshotInfo struct {
	// Name is the object's name: the sequence, zero-padded to 20 digits,
	// so that names sort as sequences do.
	Name string
	// Seq is the stream sequence the snapshot's state has applied.
	Seq uint64
	// Size is its size in bytes.
	Size uint64
	// Digest is its SHA-256 as the object store records it
	// ("SHA-256=<base64url>"), which the signature covers and a read
	// checks.
	Digest string
	// Signed says whether the snapshot carries a log signature.
	Signed bool
}

// snapshots returns the snapshot bucket, created if missing.
func (s *Store) snapshots(ctx context.Context) (jetstream.ObjectStore, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	replicas := DefaultReplicas // as many as the stream's
	if info := s.stream.CachedInfo(); info != nil && info.Config.Replicas > 0 {
		replicas = info.Config.Replicas
	}
	obs, err := s.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      SnapshotBucket,
		Description: "stamp read-model snapshots",
		Replicas:    replicas,
		Compression: true,
	})
	if err != nil {
		return nil, fmt.Errorf("eventstore: snapshot bucket: %w", err)
	}
	return obs, nil
}

// snapshotName is the object name of a snapshot at seq.
func snapshotName(seq uint64) string { return fmt.Sprintf("%020d", seq) }

// PutSnapshot stores the snapshot r, the read models at stream sequence
// seq, in SnapshotBucket, signed with the Store's LogKey (unsigned without
// one): the signature covers the name and the SHA-256 of the contents,
// which the object store checks on every read. It reads r twice, to hash
// it and then to store it with its signature in one put, so a reader
// never meets it unsigned. It then deletes all but the newest
// snapshotsKept snapshots. It returns the snapshot's info, or an error
// (ErrReadOnly for a read-only Store; ErrSnapshotInvalid if r changed
// between the reads).
func (s *Store) PutSnapshot(ctx context.Context, seq uint64, r io.ReadSeeker) (SnapshotInfo, error) {
	if s.readOnly {
		return SnapshotInfo{}, fmt.Errorf("eventstore: put snapshot: %w", ErrReadOnly)
	}
	obs, err := s.snapshots(ctx)
	if err != nil {
		return SnapshotInfo{}, err
	}
	name := snapshotName(seq)
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return SnapshotInfo{}, fmt.Errorf("eventstore: put snapshot %s: read: %w", name, err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return SnapshotInfo{}, fmt.Errorf("eventstore: put snapshot %s: %w", name, err)
	}
	digest := objectDigest(h)
	meta := jetstream.ObjectMeta{Name: name, Headers: nats.Header{hdrSnapshotSeq: []string{strconv.FormatUint(seq, 10)}}}
	if s.logKey != nil {
		meta.Headers.Set(HeaderSignature, domain.SignLogEvent(s.logKey, snapshotSigningSubject, name, []byte(digest)))
		meta.Headers.Set(HeaderKey, s.logKeyID)
	}
	info, err := obs.Put(ctx, meta, r)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("eventstore: put snapshot %s: %w", name, err)
	}
	if info.Digest != digest {
		_ = obs.Delete(ctx, name)
		return SnapshotInfo{}, fmt.Errorf("eventstore: put snapshot %s: %w: stored digest %s, read %s", name, ErrSnapshotInvalid, info.Digest, digest)
	}
	if err := s.pruneSnapshots(ctx, obs); err != nil {
		return SnapshotInfo{}, err
	}
	return SnapshotInfo{Name: name, Seq: seq, Size: info.Size, Digest: digest, Signed: s.logKey != nil}, nil
}

// pruneSnapshots deletes all but the newest snapshotsKept snapshots.
func (s *Store) pruneSnapshots(ctx context.Context, obs jetstream.ObjectStore) error {
	all, err := listSnapshots(ctx, obs)
	if err != nil {
		return err
	}
	for i := snapshotsKept; i < len(all); i++ {
		if err := obs.Delete(ctx, all[i].Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("eventstore: delete snapshot %s: %w", all[i].Name, err)
		}
	}
	return nil
}

// listSnapshots returns the snapshots of obs, newest first.
func listSnapshots(ctx context.Context, obs jetstream.ObjectStore) ([]*jetstream.ObjectInfo, error) {
	list, err := obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: list snapshots: %w", err)
	}
	slices.SortFunc(list, func(a, b *jetstream.ObjectInfo) int { return cmp.Compare(b.Name, a.Name) })
	return list, nil
}

// Snapshots returns the stored snapshots, newest first, as they are
// listed (not checked: see OpenSnapshot).
func (s *Store) Snapshots(ctx context.Context) ([]SnapshotInfo, error) {
	obs, err := s.snapshots(ctx)
	if err != nil {
		return nil, err
	}
	list, err := listSnapshots(ctx, obs)
	if err != nil {
		return nil, err
	}
	out := make([]SnapshotInfo, 0, len(list))
	for _, o := range list {
		info, _ := snapshotInfo(o)
		out = append(out, info)
	}
	return out, nil
}

// snapshotInfo returns o's info and whether its name and headers are
// those of a snapshot.
func snapshotInfo(o *jetstream.ObjectInfo) (SnapshotInfo, bool) {
	info := SnapshotInfo{Name: o.Name, Size: o.Size, Digest: o.Digest, Signed: o.Headers.Get(HeaderSignature) != ""}
	seq, err := strconv.ParseUint(o.Headers.Get(hdrSnapshotSeq), 10, 64)
	if err != nil || snapshotName(seq) != o.Name {
		return info, false
	}
	info.Seq = seq
	return info, true
}

// check returns why the snapshot o must not be used, or "".
func (s *Store) checkSnapshot(o *jetstream.ObjectInfo) string {
	info, ok := snapshotInfo(o)
	switch {
	case !ok:
		return "not a snapshot (name or sequence header)"
	case !strings.HasPrefix(info.Digest, "SHA-256="):
		return "no SHA-256 digest"
	case len(s.verify.keys) == 0:
		return "" // this Store checks no signature
	case !info.Signed:
		return "unsigned"
	}
	kid := o.Headers.Get(HeaderKey)
	pub, ok := s.verify.keys[kid]
	if !ok {
		return fmt.Sprintf("signed by untrusted log key %q", kid)
	}
	if !domain.VerifyLogEvent(pub, snapshotSigningSubject, o.Name, []byte(info.Digest), o.Headers.Get(HeaderSignature)) {
		return fmt.Sprintf("bad signature (key %s)", kid)
	}
	return ""
}

// OpenSnapshot returns the newest snapshot whose signature holds (any
// snapshot when the Store trusts no log key), as a reader of its contents
// that returns an error wrapping ErrSnapshotInvalid instead of io.EOF if
// they do not match their checksum; the caller closes it. Reading it
// must end before ctx's deadline, or within snapshotReadTimeout without
// one. Every newer
// snapshot it skips is passed to skipped with the reason. It returns an
// error wrapping ErrNoSnapshot when none is left.
func (s *Store) OpenSnapshot(ctx context.Context, skipped func(SnapshotInfo, string)) (io.ReadCloser, SnapshotInfo, error) {
	obs, err := s.snapshots(ctx)
	if err != nil {
		return nil, SnapshotInfo{}, err
	}
	list, err := listSnapshots(ctx, obs)
	if err != nil {
		return nil, SnapshotInfo{}, err
	}
	for _, o := range list {
		info, _ := snapshotInfo(o)
		if reason := s.checkSnapshot(o); reason != "" {
			if skipped != nil {
				skipped(info, reason)
			}
			continue
		}
		// The object store bounds the whole read by ctx's deadline, or
		// by a short default without one: give a big snapshot time.
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if _, ok := ctx.Deadline(); !ok {
			rctx, cancel = context.WithTimeout(ctx, snapshotReadTimeout)
		}
		r, err := s.readSnapshot(rctx, o, cancel) // see snapshot_read.go
		if err != nil {
			cancel()
			return nil, SnapshotInfo{}, err
		}
		return r, info, nil
	}
	return nil, SnapshotInfo{}, ErrNoSnapshot
}
