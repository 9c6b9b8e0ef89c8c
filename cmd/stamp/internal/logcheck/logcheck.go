// Package logcheck holds the rules by which stamp judges its event log:
// the sequences of a read are contiguous from where it began, and every
// record is an intact, decodable event of a known type and version on the
// subject its aggregate names. `stamp verify` reports what a whole read
// found (Verify); `stamp replay` and a server's replay read through Wrap,
// which refuses to hand a rebuild a damaged log.
//
// It speaks in domain records over small read interfaces and imports no
// storage: the event store, or a slice in a test, serves the reads.
package logcheck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// Problem is one thing found wrong in the log.
type Problem struct {
	Seq  uint64 // first sequence concerned
	What string
	// Newer: an intact event of a type or version this stamp does not know
	// yet (no damage: an upgrade applies it).
	Newer bool
}

// Reader is the part of the event store a check reads: records in stream
// order from a sequence (filter "" or domain.SubjectRoot+".>" is the whole
// log), and the stream's last sequence.
type Reader interface {
	Replay(ctx context.Context, from uint64, filter string, fn func(domain.Recorded) error) error
	LastSeq(ctx context.Context) (uint64, error)
}

// Log is a Reader that also knows the stream's first sequence.
type Log interface {
	Reader
	FirstSeq(ctx context.Context) (uint64, error)
}

// Checker checks the records of one read of the log, in stream order:
// that the sequences are contiguous from where the read began, and each
// record (Record). Not safe for concurrent use.
type Checker struct {
	next     uint64 // the sequence the next record must have
	problems []Problem
}

// NewChecker returns a Checker for a read that begins at sequence first.
func NewChecker(first uint64) *Checker { return &Checker{next: first} }

// Check checks the next record of the read.
func (k *Checker) Check(r domain.Recorded) {
	if r.Seq > k.next {
		k.problems = append(k.problems, Problem{Seq: k.next, What: gap(k.next, r.Seq-1)})
	}
	k.next = r.Seq + 1
	if what := Record(r); what != "" {
		k.problems = append(k.problems, Problem{Seq: r.Seq, What: what, Newer: newerThanStamp(r)})
	}
}

// End notes the sequences up to last that the read never delivered.
func (k *Checker) End(last uint64) {
	if k.next <= last {
		k.problems = append(k.problems, Problem{Seq: k.next, What: gap(k.next, last)})
		k.next = last + 1
	}
}

// Problems returns everything found so far, in stream order.
func (k *Checker) Problems() []Problem { return k.problems }

// Damage returns the problems that are damage: all but events of a newer
// stamp, which the read models park and a replay after an upgrade applies.
func (k *Checker) Damage() []Problem {
	var d []Problem
	for _, p := range k.problems {
		if !p.Newer {
			d = append(d, p)
		}
	}
	return d
}

// gap describes the missing sequences from to to.
func gap(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("gap: sequence %d is missing", from)
	}
	return fmt.Sprintf("gap: sequences %d to %d are missing", from, to)
}

// Record returns what is wrong with one stored event, or "".
func Record(r domain.Recorded) string {
	if r.Refused != "" {
		return "refused: " + r.Refused + " on " + r.Subject
	}
	e, err := domain.Decode(r.Envelope)
	var future *domain.FutureVersionError
	switch {
	case errors.Is(err, domain.ErrUnknownEventType):
		return fmt.Sprintf("unknown event type %q on %s", r.Envelope.Type, r.Subject)
	case errors.As(err, &future):
		return fmt.Sprintf("%s version %d is newer than this stamp knows (%d) on %s: upgrade stamp, then run stamp replay", future.Type, future.Version, future.Known, r.Subject)
	case err != nil:
		return fmt.Sprintf("undecodable %s on %s: %v", r.Envelope.Type, r.Subject, err)
	}
	if !e.AggregateOf().OnSubject(r.Subject, r.Envelope.Type) {
		return fmt.Sprintf("%s of %s recorded on subject %s", r.Envelope.Type, e.AggregateOf(), r.Subject)
	}
	return ""
}

// newerThanStamp reports whether r is an intact event of a type or version
// this stamp does not know yet.
func newerThanStamp(r domain.Recorded) bool {
	if r.Refused != "" {
		return false
	}
	_, err := domain.Decode(r.Envelope)
	var future *domain.FutureVersionError
	return errors.Is(err, domain.ErrUnknownEventType) || errors.As(err, &future)
}

// Verify reads the whole log from its first sequence up to its last as
// of the call and returns what is wrong, in stream order, and how many
// events it checked. progress is told (done, total) as it goes. It fails
// only when the log cannot be read.
func Verify(ctx context.Context, log Log, progress func(done, total uint64)) ([]Problem, uint64, error) {
	first, err := log.FirstSeq(ctx)
	if err != nil {
		return nil, 0, err
	}
	last, err := log.LastSeq(ctx)
	if err != nil {
		return nil, 0, err
	}
	if first == 0 {
		return nil, 0, nil
	}
	// A first sequence above 1 is no problem: the stream's MaxAge dropped
	// the older events.
	total := last - first + 1
	k := NewChecker(first)
	checked := uint64(0)
	err = log.Replay(ctx, first, "", func(r domain.Recorded) error {
		k.Check(r)
		checked++
		if checked%4096 == 0 {
			progress(checked, total)
		}
		return nil
	})
	if err != nil {
		return nil, checked, err
	}
	k.End(last)
	progress(checked, total)
	return k.Problems(), checked, nil
}

// ErrDamaged is wrapped by a read through Wrap that found the log damaged:
// missing sequences, or records the log refuses or cannot decode. A
// replay that meets it swaps nothing.
var ErrDamaged = errors.New("the log is damaged")

// DamagedError lists the damage a read found; it wraps ErrDamaged.
type DamagedError struct{ Problems []Problem }

func (e *DamagedError) Error() string {
	var b strings.Builder
	b.WriteString("the log is damaged, so the rebuild would lack events the read models may hold; nothing was swapped:")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  sequence %d: %s", p.Seq, p.What)
	}
	b.WriteString("\nrestore the log (the data directory's jetstream/, or the stream) from a backup that holds these sequences, then run stamp verify and stamp replay again")
	return b.String()
}

func (e *DamagedError) Unwrap() error { return ErrDamaged }

// Checked is a Reader that checks every read of the whole log
// (domain.SubjectRoot + ".>") as Verify does: a read that found damage
// returns a *DamagedError after delivering what it could. Reads begin no
// lower than the stream's first sequence: MaxAge may have dropped the
// events before it, which is no damage. Safe for concurrent use if the
// wrapped Reader is.
type Checked struct {
	Reader
	first uint64

	mu       sync.Mutex
	problems []Problem
}

// Replay is the Reader's Replay, checked.
func (c *Checked) Replay(ctx context.Context, from uint64, filter string, fn func(domain.Recorded) error) error {
	if filter != "" && filter != domain.SubjectRoot+".>" {
		return c.Reader.Replay(ctx, from, filter, fn)
	}
	last, err := c.Reader.LastSeq(ctx)
	if err != nil {
		return err
	}
	k := NewChecker(max(from, c.first))
	err = c.Reader.Replay(ctx, from, filter, func(r domain.Recorded) error {
		k.Check(r)
		return fn(r)
	})
	if err == nil {
		k.End(last)
	}
	if d := k.Damage(); len(d) > 0 {
		c.mu.Lock()
		c.problems = append(c.problems, d...)
		all := c.problems
		c.mu.Unlock()
		return &DamagedError{Problems: all}
	}
	return err
}

// Wrap returns log checked (see Checked) and a note for the operator when
// the stream begins above sequence 1. maxAge is the configured
// --stream-max-age: without one, a stream beginning above 1 more likely
// lost its first records, which the note says (JetStream cannot tell the
// two apart). It fails only when the first sequence cannot be read.
func Wrap(ctx context.Context, log Log, maxAge time.Duration) (*Checked, string, error) {
	first, err := log.FirstSeq(ctx)
	if err != nil {
		return nil, "", err
	}
	note := ""
	switch {
	case first > 1 && maxAge > 0:
		note = fmt.Sprintf("the stream begins at sequence %d: its max age (--stream-max-age) dropped the events before; the rebuild holds only what followed", first)
	case first > 1:
		note = fmt.Sprintf("the stream begins at sequence %d, and --stream-max-age is not set here: unless the stream has a max age, sequences 1 to %d were lost; restore them from a backup", first, first-1)
	}
	return &Checked{Reader: log, first: max(first, 1)}, note, nil
}
