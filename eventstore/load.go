package eventstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/stamp-oauth/stamp/domain"
)

// Load returns every event of agg in stream order; none is an empty slice and
// no error. It returns ErrInvalidAggregate (wrapped) for a bad aggregate. A
// stored message that must not be applied (see Read) is among them with
// Refused set and a zero Envelope, so a fold skips it.
//
// Load reads a snapshot with JetStream direct get in two round trips: the
// last message of each subject under agg.Filter() (one per event type), then
// every message of each of those subjects, all requests at once. Literal
// subjects keep the server on its per-subject indexes, where a wildcard read
// scans every message between and after the aggregate's events (a
// millisecond per Load on a large stream). Events appended after the first
// round trip are left out. The server isolates reads from atomic batches, so
// Load never sees part of one. On a replicated stream a replica may answer
// slightly behind the leader; an append that relies on what Load saw still
// checks it with domain.ExpectSeq.
//
// A sharded aggregate (domain.Aggregate.Sharded) has no subject of its
// own: Load reads its per-id subjects (logs written before the shards) as
// above, then scans its shard for its Stamp-Aggregate header, which costs a
// read of a sixteenth of the kind's history. A server loads those
// aggregates through the read models' event index and Get instead.
//
// Load tries again while the failure is transient (see Append); one that
// outlasts ctx is a *domain.RetryError matching
// domain.ErrTemporarilyUnavailable.
func (s *Store) Load(ctx context.Context, agg domain.Aggregate) ([]domain.Recorded, error) {
	return retrying(ctx, s, func(ctx context.Context) ([]domain.Recorded, error) { return s.loadOnce(ctx, agg) })
}

// loadOnce is one attempt of Load.
func (s *Store) loadOnce(ctx context.Context, agg domain.Aggregate) ([]domain.Recorded, error) {
	filter := agg.Filter()
	if !validAggregate(agg) {
		return nil, fmt.Errorf("eventstore: load %s: %w", agg, ErrInvalidAggregate)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	g := newGetter(s.replies, s.verify)
	defer g.close()
	var out []domain.Recorded
	var err error
	if agg.Sharded() {
		out, err = g.loadSharded(ctx, s, agg)
	} else {
		out, err = g.load(ctx, filter)
	}
	if err == nil && s.archive != nil {
		out, err = s.loadArchived(ctx, agg, filter, out)
	}
	if err != nil {
		return nil, fmt.Errorf("eventstore: load %s: %w", filter, err)
	}
	return out, nil
}

// load reads every message on filter as Load documents.
func (g getter) load(ctx context.Context, filter string) ([]domain.Recorded, error) {
	// Round one: the last message of each subject, and the stream's last
	// sequence as of then, which bounds the snapshot.
	if _, err := g.send(directGetRequest{MultiLast: []string{filter}}); err != nil {
		return nil, err
	}
	var subjects []string
	var upTo uint64
	for ended := false; !ended; {
		m, err := g.recv(ctx)
		if err != nil {
			return nil, err
		}
		switch status := m.Header.Get(hdrStatus); status {
		case "":
			subjects = append(subjects, m.Header.Get(hdrSubject))
		case statusEndOfBatch:
			if upTo, err = parseHeader(m, hdrUpToSeq); err != nil {
				return nil, err
			}
			if more, err := parseHeader(m, hdrNumPending); err != nil || more > 0 {
				return g.scan(ctx, filter) // cut short by the server's byte limit
			}
			ended = true
		case statusNotFound:
			return []domain.Recorded{}, nil
		case statusTooMany:
			return g.scan(ctx, filter)
		default:
			return nil, statusError(m)
		}
	}

	// Round two: every message of each subject.
	pending := make(map[string]string, len(subjects)) // reply subject -> event subject
	last := make(map[string]uint64, len(subjects))    // event subject -> last sequence read
	for _, subject := range subjects {
		reply, err := g.send(directGetRequest{Seq: 1, NextFor: subject, Batch: loadBatch})
		if err != nil {
			return nil, err
		}
		pending[reply] = subject
	}
	out := make([]domain.Recorded, 0, len(subjects))
	for len(pending) > 0 {
		m, err := g.recv(ctx)
		if err != nil {
			return nil, err
		}
		subject, ok := pending[m.Subject]
		if !ok {
			continue // a late answer to round one
		}
		switch status := m.Header.Get(hdrStatus); status {
		case "":
			rec, err := g.decode(m)
			if err != nil {
				return nil, err
			}
			if rec.Seq <= upTo {
				out = append(out, rec)
			}
			last[subject] = rec.Seq
		case statusNotFound:
			delete(pending, m.Subject)
		case statusEndOfBatch:
			delete(pending, m.Subject)
			more, err := parseHeader(m, hdrNumPending)
			if err != nil {
				return nil, err
			}
			// A subject with more than a batch of events.
			if from := last[subject] + 1; more > 0 && from > 1 && from <= upTo {
				reply, err := g.send(directGetRequest{Seq: from, NextFor: subject, Batch: loadBatch})
				if err != nil {
					return nil, err
				}
				pending[reply] = subject
			}
		default:
			return nil, statusError(m)
		}
	}
	slices.SortFunc(out, func(a, b domain.Recorded) int { return cmp.Compare(a.Seq, b.Seq) })
	return out, nil
}

// scan reads every message on filter with wildcard batches, for an aggregate
// of more subjects than the server answers in one round.
func (g getter) scan(ctx context.Context, filter string) ([]domain.Recorded, error) {
	out := []domain.Recorded{}
	next := uint64(1)
	for {
		reply, err := g.send(directGetRequest{Seq: next, NextFor: filter, Batch: loadBatch})
		if err != nil {
			return nil, err
		}
		for {
			m, err := g.recv(ctx)
			if err != nil {
				return nil, err
			}
			if m.Subject != reply {
				continue
			}
			status := m.Header.Get(hdrStatus)
			if status == "" {
				rec, err := g.decode(m)
				if err != nil {
					return nil, err
				}
				out = append(out, rec)
				next = rec.Seq + 1
				continue
			}
			if status == statusNotFound {
				return out, nil
			}
			if status != statusEndOfBatch {
				return nil, statusError(m)
			}
			pending, err := parseHeader(m, hdrNumPending)
			if err != nil {
				return nil, err
			}
			if pending == 0 {
				return out, nil
			}
			break
		}
	}
}
