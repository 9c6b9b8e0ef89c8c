package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/projections"
)

// logChecker checks the records of one read of the log, in stream order:
// that the sequences are contiguous from where the read began, and each
// record (checkRecord). stamp verify and stamp replay share it.
type logChecker struct {
	next     uint64 // the sequence the next record must have
	problems []logProblem
}

// check checks the next record of the read.
func (k *logChecker) check(r domain.Recorded) {
	if r.Seq > k.next {
		k.problems = append(k.problems, logProblem{Seq: k.next, What: gap(k.next, r.Seq-1)})
	}
	k.next = r.Seq + 1
	if what := checkRecord(r); what != "" {
		k.problems = append(k.problems, logProblem{Seq: r.Seq, What: what, Newer: newerThanStamp(r)})
	}
}

// end notes the sequences up to last that the read never delivered.
func (k *logChecker) end(last uint64) {
	if k.next <= last {
		k.problems = append(k.problems, logProblem{Seq: k.next, What: gap(k.next, last)})
		k.next = last + 1
	}
}

// gap describes the missing sequences from to to.
func gap(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("gap: sequence %d is missing", from)
	}
	return fmt.Sprintf("gap: sequences %d to %d are missing", from, to)
}

// damage returns the problems that are damage: all but events of a newer
// stamp, which the read models park and a replay after an upgrade applies.
func (k *logChecker) damage() []logProblem {
	var d []logProblem
	for _, p := range k.problems {
		if !p.Newer {
			d = append(d, p)
		}
	}
	return d
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

// errLogDamaged is wrapped by a replay that found the log damaged: missing
// sequences, or records the log refuses or cannot decode. The replay then
// swaps nothing.
var errLogDamaged = errors.New("the log is damaged")

// damagedLogError lists the damage a replay found.
type damagedLogError struct{ problems []logProblem }

func (e *damagedLogError) Error() string {
	var b strings.Builder
	b.WriteString("the log is damaged, so the rebuild would lack events the read models may hold; nothing was swapped:")
	for _, p := range e.problems {
		fmt.Fprintf(&b, "\n  sequence %d: %s", p.Seq, p.What)
	}
	b.WriteString("\nrestore the log (the data directory's jetstream/, or the stream) from a backup that holds these sequences, then run stamp verify and stamp replay again")
	return b.String()
}

func (e *damagedLogError) Unwrap() error { return errLogDamaged }

// checkedLog is a Replayer that checks every read of the whole log
// (domain.SubjectRoot + ".>") as stamp verify does: a read that found
// damage returns a *damagedLogError after delivering what it could. Reads
// begin no lower than first, the stream's first sequence: MaxAge may have
// dropped the events before it, which is no damage.
type checkedLog struct {
	projections.Replayer
	first uint64

	mu       sync.Mutex
	problems []logProblem
}

// Replay is the Replayer's Replay, checked.
func (c *checkedLog) Replay(ctx context.Context, from uint64, filter string, fn func(domain.Recorded) error) error {
	if filter != "" && filter != domain.SubjectRoot+".>" {
		return c.Replayer.Replay(ctx, from, filter, fn)
	}
	last, err := c.Replayer.LastSeq(ctx)
	if err != nil {
		return err
	}
	k := logChecker{next: max(from, c.first)}
	err = c.Replayer.Replay(ctx, from, filter, func(r domain.Recorded) error {
		k.check(r)
		return fn(r)
	})
	if err == nil {
		k.end(last)
	}
	if d := k.damage(); len(d) > 0 {
		c.mu.Lock()
		c.problems = append(c.problems, d...)
		all := c.problems
		c.mu.Unlock()
		return &damagedLogError{problems: all}
	}
	return err
}

// firstSeqer is the part of the event store that knows the stream's first
// sequence.
type firstSeqer interface {
	FirstSeq(ctx context.Context) (uint64, error)
}

// checkLog returns src checked (see checkedLog) and a note for the
// operator when the stream begins above sequence 1. maxAge is the
// configured --stream-max-age: without one, a stream beginning above 1
// more likely lost its first records, which the note says (JetStream
// cannot tell the two apart).
func checkLog(ctx context.Context, src projections.Replayer, fs firstSeqer, maxAge time.Duration) (*checkedLog, string, error) {
	first, err := fs.FirstSeq(ctx)
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
	return &checkedLog{Replayer: src, first: max(first, 1)}, note, nil
}
