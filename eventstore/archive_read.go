package eventstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// readWithArchive is Read on a log with an archive: what lies below the hot
// stream's first sequence comes from the archive, the rest from the hot
// stream, each event once and in order, every one through the same
// verifier. The archiver may drop more of the hot stream while the read
// runs; it drops only what the archive holds, and the first event the hot
// read delivers is checked against the hot stream's first sequence as of
// then, so what was dropped in between is read from the archive first.
func (s *Store) readWithArchive(ctx context.Context, ro ReadOptions, stop uint64, fn func(domain.Recorded) error) error {
	where := ro.Filter
	if where == "" {
		where = domain.SubjectRoot + ".>"
	}
	hf, err := s.HotFirstSeq(ctx)
	if err != nil {
		return unavailable(fmt.Errorf("eventstore: read %s: %w", where, err))
	}
	next := max(ro.From, 1)
	if !ro.Since.IsZero() {
		if next, err = s.seqAtTime(ctx, ro.Since, hf); err != nil {
			return unavailable(fmt.Errorf("eventstore: read %s: %w", where, err))
		}
		ro.Since = time.Time{}
	}
	if next < hf {
		upTo := hf - 1
		if stop > 0 {
			upTo = min(upTo, stop)
		}
		if err := s.readArchive(ctx, next, upTo, ro.Filter, ro.entry, fn); err != nil {
			return unavailable(fmt.Errorf("eventstore: read %s: %w", where, err))
		}
		next = upTo + 1
		if stop > 0 && next > stop {
			return nil
		}
	}
	ro.From = next

	// A purge between here and the hot read's first event: read the gap
	// from the archive.
	checked := false
	gap := func(below uint64) error {
		checked = true
		hf, err := s.HotFirstSeq(ctx)
		if err != nil {
			return err
		}
		if upTo := min(hf, below) - 1; hf > next && upTo >= next {
			return s.readArchive(ctx, next, upTo, ro.Filter, ro.entry, fn)
		}
		return nil
	}
	err = s.readHot(ctx, ro, stop, func(rec domain.Recorded) error {
		if !checked && rec.Seq > next {
			if err := gap(rec.Seq); err != nil {
				return err
			}
		}
		checked = true
		return fn(rec)
	})
	if err == nil && !checked && stop > 0 {
		err = gap(stop + 1)
	}
	return unavailable(err)
}

// seqAtTime returns the first sequence stored at or after t: in the hot
// stream when t is not before its first event (hf), else in the archive
// (by the archive's stored time). Past the end: the last sequence plus one.
func (s *Store) seqAtTime(ctx context.Context, t time.Time, hf uint64) (uint64, error) {
	if hf > 1 {
		seq, found, err := s.directSeqAt(ctx, ArchiveStreamName, t)
		if err != nil {
			return 0, err
		}
		if found && seq < hf {
			return seq, nil
		}
	}
	seq, found, err := s.directSeqAt(ctx, domain.StreamName, t)
	if err != nil {
		return 0, err
	}
	if !found {
		last, err := s.LastSeq(ctx)
		return last + 1, err
	}
	return seq, nil
}

// directSeqAt asks stream for its first message at or after t by a direct
// get and returns its STAMP sequence, and whether there is one.
func (s *Store) directSeqAt(ctx context.Context, stream string, t time.Time) (uint64, bool, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	body, err := json.Marshal(struct {
		StartTime time.Time `json:"start_time"`
		NoHeaders bool      `json:"no_hdr,omitempty"`
	}{StartTime: t.UTC()})
	if err != nil {
		return 0, false, err
	}
	m, err := s.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+stream, body)
	if err != nil {
		return 0, false, fmt.Errorf("direct get %s by time: %w", stream, err)
	}
	switch m.Header.Get(hdrStatus) {
	case "":
	case statusNotFound:
		return 0, false, nil
	default:
		return 0, false, fmt.Errorf("direct get %s by time: %w", stream, statusError(m))
	}
	if stream == ArchiveStreamName {
		seq, err := sourceSeq(m.Header)
		return seq, err == nil, err
	}
	seq, err := parseHeader(m, hdrSequence)
	return seq, err == nil, err
}

// readArchive calls fn with every archived event from from to upTo
// (STAMP sequences, both included) on filter ("" for all), in order,
// through entry (the Store's verifier when nil).
func (s *Store) readArchive(ctx context.Context, from, upTo uint64, filter string, entry entryFunc, fn func(domain.Recorded) error) error {
	if entry == nil {
		entry = s.verify.read
	}
	offset, ok, err := s.archiveOffset(ctx)
	if err != nil || !ok {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if filter != "" && filter != domain.SubjectRoot+".>" {
		cfg.FilterSubjects = []string{filter}
	}
	if from > offset+1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from-offset
	}
	cons, err := s.js.OrderedConsumer(ctx, ArchiveStreamName, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", ArchiveStreamName, err)
	}
	defer func() {
		if info := cons.CachedInfo(); info != nil && !s.nc.IsClosed() {
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.js.DeleteConsumer(dctx, ArchiveStreamName, info.Name)
			cancel()
		}
	}()
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		return nil
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(pullBatch))
	if err != nil {
		return fmt.Errorf("%s: %w", ArchiveStreamName, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return fmt.Errorf("%s: %w", ArchiveStreamName, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("%s: %w", ArchiveStreamName, err)
		}
		seq, err := archivedSeq(meta.Sequence.Stream, offset, msg.Headers())
		if err != nil {
			return err
		}
		if seq > upTo {
			return nil
		}
		if seq >= from {
			rec, _ := entry(seq, msg.Subject(), msg.Headers(), msg.Data())
			if err := fn(rec); err != nil {
				return fmt.Errorf("at sequence %d: %w", seq, err)
			}
		}
		if seq == upTo || meta.NumPending == 0 {
			return nil
		}
	}
}

// archivedSeq returns the STAMP sequence of the archive's message at
// archiveSeq, checking it against the archive's offset.
func archivedSeq(archiveSeq, offset uint64, h nats.Header) (uint64, error) {
	seq, err := sourceSeq(h)
	if err != nil {
		return 0, err
	}
	if seq != archiveSeq+offset {
		return 0, fmt.Errorf("%w: archive sequence %d holds %s sequence %d, want %d", ErrArchive, archiveSeq, domain.StreamName, seq, archiveSeq+offset)
	}
	return seq, nil
}

// loadArchived adds to hot (Load's answer from the hot stream) the events
// of filter the archive holds below the hot stream's first sequence.
func (s *Store) loadArchived(ctx context.Context, agg domain.Aggregate, filter string, hot []domain.Recorded) ([]domain.Recorded, error) {
	hf, err := s.HotFirstSeq(ctx)
	if err != nil || hf <= 1 {
		return hot, err
	}
	offset, ok, err := s.archiveOffset(ctx)
	if err != nil || !ok {
		return hot, err
	}
	g := getter{in: s.replies.Open(), v: s.verify, subject: "$JS.API.DIRECT.GET." + ArchiveStreamName, archive: true, offset: offset}
	defer g.close()
	archived, err := g.load(ctx, filter)
	if err != nil {
		return nil, err
	}
	if agg.Sharded() {
		if archived, err = g.shardedOf(ctx, agg, archived); err != nil {
			return nil, err
		}
	}
	out := make([]domain.Recorded, 0, len(archived)+len(hot))
	for _, rec := range archived {
		if rec.Seq += offset; rec.Seq < hf {
			out = append(out, rec)
		}
	}
	for _, rec := range hot {
		if len(out) == 0 || rec.Seq > out[len(out)-1].Seq {
			out = append(out, rec)
		}
	}
	return out, nil
}

// shardedOf keeps, of the archived events of agg's shard, those of agg
// (a refused one cannot tell whose it is and is left out: it is never
// applied anyway), and adds those on agg's own subject of the scheme
// before shards (see domain.Aggregate), in stream order.
func (g getter) shardedOf(ctx context.Context, agg domain.Aggregate, shard []domain.Recorded) ([]domain.Recorded, error) {
	out, err := g.load(ctx, agg.LegacyFilter())
	if err != nil {
		return nil, err
	}
	for _, r := range shard {
		if r.Refused != "" {
			continue
		}
		if e, err := domain.Decode(r.Envelope); err == nil && e.AggregateOf() == agg {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b domain.Recorded) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}
