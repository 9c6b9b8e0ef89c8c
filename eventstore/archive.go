package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// The archive. STAMP_ARCHIVE sources every event of STAMP, compressed and
// kept forever, so that the hot stream STAMP may drop what is older than
// the hot window (see Server.Archive) while audit, events and replay still
// reach everything: readers take what lies below STAMP's first sequence
// from the archive (see Store.Read and Store.Load).
//
// A source, not a mirror: a mirror of a stream that allows direct gets
// joins the origin's direct-get queue group (nats-server sets MirrorDirect
// from the origin's AllowDirect and offers no way out), so a lagging
// archive would answer STAMP's direct gets and break read-your-writes. A
// sourced message keeps its subject, headers (the log signature among them)
// and body; its STAMP sequence travels in the Nats-Stream-Source header,
// which every archive read uses and checks, so readers keep addressing
// events by their STAMP sequence. Its stored time is when the archive
// copied it: within milliseconds of the original for events archived as
// they are appended, the time of the copy for the events an upgraded log
// had before its archive existed.

// ArchiveStreamName is the archive stream's name.
const ArchiveStreamName = domain.StreamName + "_ARCHIVE"

// hdrStreamSource is the header a sourced message carries: the origin
// stream's name, a space, its sequence there, then more fields.
const hdrStreamSource = "Nats-Stream-Source"

// ErrArchive is wrapped by a read of the archive that finds it out of step
// with the hot stream (a message without its STAMP sequence, or not the
// one expected).
var ErrArchive = errors.New("eventstore: archive out of step with the hot stream")

// compression is the compression o asks for: S2 unless NoCompression.
func (o Options) compression() jetstream.StoreCompression {
	if o.NoCompression {
		return jetstream.NoCompression
	}
	return jetstream.S2Compression
}

// archiveConfig is the STAMP_ARCHIVE stream as o wants it: sourcing STAMP,
// file storage, o's compression and replicas, no limit, no delete and no
// purge.
func (o Options) archiveConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        ArchiveStreamName,
		Description: "stamp event log archive (every event of " + domain.StreamName + ")",
		Sources:     []*jetstream.StreamSource{{Name: domain.StreamName}},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    o.Replicas,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Discard:     jetstream.DiscardOld,
		Compression: o.compression(),
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}
}

// hotConfig is the STAMP stream as Open creates or updates it: o's
// configuration, keeping the purge rule of an existing stream. A new
// stream allows purges so that the embedded server's archiver may drop
// what the archive holds (no NATS identity of stamp's may purge it); the
// server refuses to lift DenyPurge from a stream that has it, so a log
// created before the archive keeps it, and its hot window is not enforced
// (Server.Archive reports ErrPurgeDenied).
func (o Options) hotConfig(ctx context.Context, js jetstream.JetStream) (jetstream.StreamConfig, error) {
	cfg := o.streamConfig()
	cfg.Compression = o.compression()
	cfg.DenyPurge = false
	stream, err := js.Stream(ctx, domain.StreamName)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
	case err != nil:
		return cfg, err
	default:
		cfg.DenyPurge = stream.CachedInfo().Config.DenyPurge
	}
	return cfg, nil
}

// openArchive creates or updates the archive stream for Open.
func (s *Store) openArchive(ctx context.Context, opts Options) error {
	archive, err := startup(ctx, func(ctx context.Context) (jetstream.Stream, error) {
		return s.js.CreateOrUpdateStream(ctx, opts.archiveConfig())
	})
	if err != nil {
		return fmt.Errorf("eventstore: open: stream %s: %w", ArchiveStreamName, err)
	}
	s.archive = archive
	return nil
}

// findArchive looks the archive up for a reader: none is no error.
func (s *Store) findArchive(ctx context.Context) error {
	archive, err := s.js.Stream(ctx, ArchiveStreamName)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("eventstore: stream %s: %w", ArchiveStreamName, err)
	}
	s.archive = archive
	return nil
}

// sourceSeq returns the STAMP sequence of an archived message from its
// Nats-Stream-Source header.
func sourceSeq(h interface{ Get(string) string }) (uint64, error) {
	v := h.Get(hdrStreamSource)
	name, rest, ok := strings.Cut(v, " ")
	if !ok || name != domain.StreamName {
		return 0, fmt.Errorf("%w: %s header %q", ErrArchive, hdrStreamSource, v)
	}
	seqText, _, _ := strings.Cut(rest, " ")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil || seq == 0 {
		return 0, fmt.Errorf("%w: %s header %q", ErrArchive, hdrStreamSource, v)
	}
	return seq, nil
}

// HotFirstSeq returns the first sequence the hot stream STAMP holds: 1
// until the archiver has dropped anything, its last sequence plus one when
// it holds nothing. Events below it are in the archive.
func (s *Store) HotFirstSeq(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("eventstore: first sequence: %w", err)
	}
	return hotFirst(info), nil
}

// hotFirst is the first sequence info's stream holds, or its last plus one
// when it holds none.
func hotFirst(info *jetstream.StreamInfo) uint64 {
	if info.State.Msgs == 0 {
		return info.State.LastSeq + 1
	}
	return info.State.FirstSeq
}

// archiveOffset returns what to add to an archive sequence to get the
// STAMP sequence of its message (the archive's messages are STAMP's, in
// order and without gaps, from wherever STAMP started when the archive was
// created), and whether the archive holds anything.
func (s *Store) archiveOffset(ctx context.Context) (offset uint64, ok bool, err error) {
	info, err := s.archive.Info(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("eventstore: stream %s: %w", ArchiveStreamName, err)
	}
	if info.State.Msgs == 0 {
		return 0, false, nil
	}
	msg, err := s.archive.GetMsg(ctx, info.State.FirstSeq)
	if err != nil {
		return 0, false, fmt.Errorf("eventstore: stream %s: first message: %w", ArchiveStreamName, err)
	}
	seq, err := sourceSeq(msg.Header)
	if err != nil {
		return 0, false, err
	}
	if seq < msg.Sequence {
		return 0, false, fmt.Errorf("%w: archive sequence %d holds %s sequence %d", ErrArchive, msg.Sequence, domain.StreamName, seq)
	}
	return seq - msg.Sequence, true, nil
}

// lastAnnouncement returns the last log-signing announcement: from the hot
// stream, or from the archive (with its STAMP sequence) once the hot
// stream has dropped it. jetstream.ErrMsgNotFound (wrapped) when there is
// none.
func lastAnnouncement(ctx context.Context, stream, archive jetstream.Stream) (*jetstream.RawStreamMsg, error) {
	msg, err := stream.GetLastMsgForSubject(ctx, announcementSubject)
	if archive == nil || !errors.Is(err, jetstream.ErrMsgNotFound) {
		return msg, err
	}
	msg, err = archive.GetLastMsgForSubject(ctx, announcementSubject)
	if err != nil {
		return nil, err
	}
	seq, err := sourceSeq(msg.Header)
	if err != nil {
		return nil, err
	}
	msg.Sequence = seq
	return msg, nil
}

// hotExpectation translates an expectation that failed: the server checks
// it against the hot stream, where an aggregate whose last event (expect's
// sequence) has been archived and dropped has no event at all. It returns
// domain.ExpectNew for such an expectation, and false for any other (no
// archive, no expected sequence, or one the hot stream still holds: a real
// conflict). Load reads the archive too, so an aggregate's events after
// its expected sequence are never all dropped unseen.
func (s *Store) hotExpectation(ctx context.Context, expect domain.Expect) (domain.Expect, bool) {
	seq, check := expect.Check()
	if s.archive == nil || !check || seq == 0 {
		return expect, false
	}
	hf, err := s.HotFirstSeq(ctx)
	if err != nil || seq >= hf {
		return expect, false
	}
	return domain.ExpectNew, true
}

// ArchivedSeq returns the last STAMP sequence the archive holds: 0 when it
// holds nothing or there is no archive.
func (s *Store) ArchivedSeq(ctx context.Context) (uint64, error) {
	if s.archive == nil {
		return 0, nil
	}
	info, err := s.archive.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("eventstore: stream %s: %w", ArchiveStreamName, err)
	}
	if info.State.Msgs == 0 {
		return 0, nil
	}
	msg, err := s.archive.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		return 0, fmt.Errorf("eventstore: stream %s: last message: %w", ArchiveStreamName, err)
	}
	return sourceSeq(msg.Header)
}
