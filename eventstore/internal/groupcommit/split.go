package groupcommit

import (
	"errors"
	"strings"
)

// ErrRefused is wrapped by a Publisher's PublishBatch error when the stream
// answered that it refused the batch, storing none of it, for what one of
// its messages carries: an expectation that failed, an id already stored.
// The Committer then splits the batch to find the append refused (see
// Committer.split); after any other error it publishes each append alone.
var ErrRefused = errors.New("groupcommit: batch refused")

// split publishes part, a batch the stream refused, in two halves, each as
// one batch again (split again if refused) or alone when it is a single
// append, so that one append's refusal costs the others about 2·log2(n)
// batches instead of n publishes alone, and each append alone gets its own
// answer. The halves go one after the other, in queue order.
func (c *Committer) split(part []*queuedAppend) {
	h := len(part) / 2
	for _, half := range [][]*queuedAppend{part[:h], part[h:]} {
		if len(half) == 1 {
			c.publishEach(half)
			continue
		}
		c.publishCombined(half, countMsgs(half))
	}
}

// guarded reports whether p may not join a batch holding before: p has a
// guard and a message of before is on a subject it matches, so the server
// would check p's expectation without that message.
func guarded(before []*queuedAppend, p *queuedAppend) bool {
	if p.guard == "" {
		return false
	}
	for _, b := range before {
		for _, m := range b.msgs {
			if subjectMatches(p.guard, m.Subject) {
				return true
			}
		}
	}
	return false
}

// anyMulti reports whether an append of part has several messages.
func anyMulti(part []*queuedAppend) bool {
	for _, p := range part {
		if len(p.msgs) > 1 {
			return true
		}
	}
	return false
}

// subjectMatches reports whether the NATS subject filter (tokens separated
// by dots, "*" one token, a final ">" one or more) matches subject.
func subjectMatches(filter, subject string) bool {
	for {
		ft, frest, fmore := strings.Cut(filter, ".")
		st, srest, smore := strings.Cut(subject, ".")
		switch {
		case ft == ">" && !fmore:
			return true
		case ft != "*" && ft != st:
			return false
		case !fmore || !smore:
			return fmore == smore
		}
		filter, subject = frest, srest
	}
}
