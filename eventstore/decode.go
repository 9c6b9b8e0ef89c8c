package eventstore

import (
	"errors"
	"fmt"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore/internal/envelope"
)

// ErrNotEnvelope is wrapped by reads that meet a stored message whose body is
// not an event envelope; the error names the message's sequence.
var ErrNotEnvelope = errors.New("eventstore: stored message is not an event envelope")

// decode turns a stored message into a Recorded (see package envelope for
// how fast). A body that does not decode to an envelope with an id and a
// type is ErrNotEnvelope, naming seq.
func decode(seq uint64, subject string, body []byte) (domain.Recorded, error) {
	env, err := envelope.Parse(body)
	if err != nil {
		return domain.Recorded{}, fmt.Errorf("%w: sequence %d on %s: %w", ErrNotEnvelope, seq, subject, err)
	}
	return domain.Recorded{Seq: seq, Subject: subject, Envelope: env}, nil
}
