// Package envelope parses the body of a stored event message into a
// domain.Envelope, fast.
//
// Contract: Parse(body) returns exactly what json.Unmarshal into a
// domain.Envelope returns, for every body, and refuses a body whose
// envelope lacks an id or a type. It never panics and keeps no reference
// to body (the envelope's Data is a copy), so the caller may reuse the
// buffer. It is safe for concurrent use: it holds no state.
//
// Cost model: replay speed is bounded by decoding, and encoding/json
// spends most of its time reflecting. A body laid out exactly as
// json.Marshal writes a domain.Envelope (fields in order, no spaces,
// strings of printable ASCII without escapes), which is how the event
// store writes every event, is read by a hand-written parser in one pass
// plus a json.Valid of the data; any other body (another writer, an
// escape, spaces) falls back to json.Unmarshal at its usual cost.
// FuzzParseFast holds the fast path to json.Unmarshal's result.
package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/stamp-oauth/stamp/domain"
)

// ErrIncomplete is returned by Parse for JSON that decodes to an envelope
// without an id or without a type.
var ErrIncomplete = errors.New("envelope: no id or type")

// Parse decodes body into an envelope. It returns json.Unmarshal's error
// (wrapped) for a body that is not a JSON object of an envelope, and
// ErrIncomplete for one without an id or a type.
func Parse(body []byte) (domain.Envelope, error) {
	var env domain.Envelope
	if !parseFast(body, &env) {
		env = domain.Envelope{}
		if err := json.Unmarshal(body, &env); err != nil {
			return domain.Envelope{}, fmt.Errorf("envelope: %w", err)
		}
	}
	if env.ID == "" || env.Type == "" {
		return domain.Envelope{}, ErrIncomplete
	}
	return env, nil
}

// parseFast decodes body into env when it is laid out exactly as
// json.Marshal writes a domain.Envelope (fields in order, no spaces, strings
// of printable ASCII without escapes), which is how the event store writes
// every event, and reports whether it did. Its result then equals
// json.Unmarshal's (FuzzParseFast checks this); for any other body it
// returns false and the caller falls back to json.Unmarshal.
func parseFast(body []byte, env *domain.Envelope) bool {
	p := parser{b: body}
	var ok bool
	if !p.lit(`{"id":`) {
		return false
	}
	if env.ID, ok = p.str(); !ok || !p.lit(`,"type":`) {
		return false
	}
	if env.Type, ok = p.str(); !ok || !p.lit(`,"version":`) {
		return false
	}
	if env.Version, ok = p.int(); !ok || !p.lit(`,"time":`) {
		return false
	}
	start := p.i
	if _, ok = p.str(); !ok || env.Time.UnmarshalJSON(body[start:p.i]) != nil {
		return false
	}
	if !p.lit(`,"actor":{"kind":`) {
		return false
	}
	if env.Actor.Kind, ok = p.str(); !ok {
		return false
	}
	if p.lit(`,"id":`) {
		if env.Actor.ID, ok = p.str(); !ok {
			return false
		}
	}
	if !p.lit(`},"data":`) || len(body) == 0 || body[len(body)-1] != '}' {
		return false
	}
	data := body[p.i : len(body)-1]
	if len(data) == 0 || !json.Valid(data) || isSpace(data[0]) || isSpace(data[len(data)-1]) {
		return false
	}
	env.Data = bytes.Clone(data)
	return true
}

// parser reads body from offset i.
type parser struct {
	b []byte
	i int
}

// lit consumes s if the input continues with it.
func (p *parser) lit(s string) bool {
	if !bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		return false
	}
	p.i += len(s)
	return true
}

// str consumes a JSON string of printable ASCII without escapes.
func (p *parser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	for j := p.i + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			s := string(p.b[p.i+1 : j])
			p.i = j + 1
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return "", false
		}
	}
	return "", false
}

// int consumes a small non-negative JSON integer.
func (p *parser) int() (int, bool) {
	j := p.i
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	digits := p.b[p.i:j]
	if len(digits) == 0 || len(digits) > 9 || (digits[0] == '0' && len(digits) > 1) {
		return 0, false
	}
	n, err := strconv.Atoi(string(digits))
	if err != nil {
		return 0, false
	}
	p.i = j
	return n, true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
