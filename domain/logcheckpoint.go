package domain

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
)

// Log checkpoints. Verifying every event's Ed25519 signature bounds how
// fast the log can be replayed; a checkpoint lets a rebuild verify one
// signature per range of the log instead. A running stamp instance, after
// verifying every message of the stream from From to To as a reader does,
// appends a LogCheckpointed with the digest of that range and the
// sequences it refused; the checkpoint is log-signed like every event. A
// rebuild that trusts checkpoints verifies the checkpoint's signature, then
// recomputes the digest from the messages instead of verifying each, and
// refuses to go on when the two differ.
//
// The digest of a range is the SHA-256 of the concatenated entry hashes
// (LogEntryHash) of the range's messages in sequence order. An entry hash
// covers what the message's log signature covers (subject, message id,
// payload, framed as for the signature), its stream sequence and how the
// verifying reader judged it (LogEntryStatus), so the digest pins exactly
// what was accepted, what was accepted unsigned (written before signing
// was adopted) and what was refused. Hashing each entry on its own lets
// a reader hash messages on several goroutines and chain them in order.

// LogCheckpointAggregate is the one aggregate every LogCheckpointed goes
// on, stamp.logkey.checkpoint.LogCheckpointed: one subject, whose last
// sequence an append expects, so that of two instances checkpointing the
// same range one wins and the chain stays linear.
var LogCheckpointAggregate = Aggregate{Kind: KindLogKey, ID: "checkpoint"}

// LogCheckpointed: the stream's messages from sequence From to To (both
// included; some may be missing, dropped before they were checkpointed)
// have the range digest Digest, and of them the log-signing rules refused
// exactly the sequences in Refused (ascending). KeyID is the log key that
// signs the checkpoint. It carries no secret: sequences and a hash only.
type LogCheckpointed struct {
	From    uint64   `json:"from"`
	To      uint64   `json:"to"`
	Digest  string   `json:"digest"`
	Refused []uint64 `json:"refused,omitempty"`
	KeyID   string   `json:"key_id"`
}

func (LogCheckpointed) EventType() string      { return "LogCheckpointed" }
func (LogCheckpointed) EventVersion() int      { return 1 }
func (LogCheckpointed) AggregateOf() Aggregate { return LogCheckpointAggregate }

// LogEntryStatus is how a verifying reader judged a stored message.
type LogEntryStatus byte

// The judgements a checkpoint's digest pins.
const (
	// LogEntrySigned: accepted with a valid signature of a trusted key.
	LogEntrySigned LogEntryStatus = 'S'
	// LogEntryUnsigned: accepted without a signature (at or below the
	// adoption point, or on a log that never adopted signing).
	LogEntryUnsigned LogEntryStatus = 'U'
	// LogEntryRefused: refused (bad, missing or untrusted signature, or
	// not an event envelope).
	LogEntryRefused LogEntryStatus = 'R'
)

// logCheckpointContext starts every entry hash's input.
const logCheckpointContext = "stamp log checkpoint v1"

// LogEntryHash returns the entry hash of the message stored at sequence
// seq on subject with message id msgID and body payload, judged status.
func LogEntryHash(seq uint64, status LogEntryStatus, subject, msgID string, payload []byte) [sha256.Size]byte {
	var x LogEntryHasher
	return x.Hash(seq, status, subject, msgID, payload)
}

// LogEntryHasher computes entry hashes (LogEntryHash) reusing one buffer.
// The zero value is ready. Not safe for concurrent use.
type LogEntryHasher struct{ buf []byte }

// Hash returns LogEntryHash(seq, status, subject, msgID, payload).
func (x *LogEntryHasher) Hash(seq uint64, status LogEntryStatus, subject, msgID string, payload []byte) [sha256.Size]byte {
	b := append(x.buf[:0], logCheckpointContext...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = append(b, byte(status))
	// Then what the log signature covers, framed as its input is.
	b = appendLogSigningInput(b, subject, msgID, payload)
	x.buf = b
	return sha256.Sum256(b)
}

// LogDigest accumulates the entry hashes of a range in sequence order. The
// zero value is not ready: use NewLogDigest. Not safe for concurrent use.
type LogDigest struct {
	h hash.Hash
	n uint64
}

// NewLogDigest returns an empty digest.
func NewLogDigest() *LogDigest { return &LogDigest{h: sha256.New()} }

// Add appends the next entry hash.
func (d *LogDigest) Add(entry [sha256.Size]byte) {
	d.h.Write(entry[:])
	d.n++
}

// Len returns how many entries were added.
func (d *LogDigest) Len() uint64 { return d.n }

// Sum returns the digest of the entries added so far, base64url without
// padding, as LogCheckpointed.Digest holds it.
func (d *LogDigest) Sum() string {
	return base64.RawURLEncoding.EncodeToString(d.h.Sum(nil))
}
