package eventstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// hdrParkedCleared marks a message of the parked stream as the clearing
// of an earlier parked copy: its value is that copy's Stamp-Parked-Seq.
// Stamp's NATS identity may not delete messages (see RoleWriter), so a
// parked event that was handled after all is cleared by this marker, on
// the listener's parked subject, and Parked leaves out both.
const hdrParkedCleared = "Stamp-Parked-Cleared"

// ClearParked records that the event at stream sequence seq, which
// listener parked, has been handled since (a retry took it): Parked no
// longer returns it. Clearing an event that is not parked, or twice,
// changes nothing Parked returns. It returns ErrInvalidDurable (wrapped)
// for a bad listener name.
func (s *Store) ClearParked(ctx context.Context, listener string, seq uint64) error {
	if !domain.ValidID(listener) {
		return fmt.Errorf("eventstore: clear parked %q: %w", listener, ErrInvalidDurable)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	m := nats.NewMsg(ParkedSubjectRoot + "." + listener)
	m.Header.Set(hdrParkedCleared, strconv.FormatUint(seq, 10))
	m.Header.Set(hdrMsgID, listener+"/"+strconv.FormatUint(seq, 10)+"/cleared")
	if _, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectStream(ParkedStreamName)); err != nil {
		return fmt.Errorf("eventstore: clear parked %s/%d: %w", listener, seq, err)
	}
	return nil
}

// withoutCleared applies a clearing marker h (if it is one) to out: it
// drops the parked copies it clears and reports true; for any other
// message it reports false.
func withoutCleared(out []Parked, listener string, h nats.Header) ([]Parked, bool) {
	v := h.Get(hdrParkedCleared)
	if v == "" {
		return out, false
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return out, true
	}
	kept := out[:0]
	for _, p := range out {
		if p.Listener != listener || p.Seq != seq {
			kept = append(kept, p)
		}
	}
	return kept, true
}
