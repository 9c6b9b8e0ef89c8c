package domain

import "time"

// The arithmetic of a Rate's token bucket, shared by every Limiter so
// that a per-process limiter and a cluster-wide one enforce the same
// rule. A bucket is held as one instant, full: when it holds Burst tokens
// again. Each failure takes one token (moves full one Every later); time
// refills them (full comes closer). The zero time, or any instant not
// after now, is a full bucket, the same as no bucket. This is the token
// bucket of golang.org/x/time/rate (with debt: failures past an empty
// bucket move full further on, and the refill pays them back first) in the
// form of the generic cell rate algorithm, which needs no floating point
// and fits a shared store in one number.

// WaitAt returns how long a key whose bucket under r is full again at
// full must wait, at now, before its next attempt: 0 when the bucket
// holds a whole token.
func (r Rate) WaitAt(full, now time.Time) time.Duration {
	if !full.After(now) {
		return 0
	}
	return max(0, full.Sub(now)-time.Duration(r.Burst-1)*r.Every)
}

// FailAt returns when the bucket under r is full again after one failure
// at now, from full before it.
func (r Rate) FailAt(full, now time.Time) time.Time {
	if full.Before(now) {
		full = now
	}
	return full.Add(r.Every)
}

// Refill returns how long an empty bucket of r takes to fill again (with
// no debt): Burst × Every.
func (r Rate) Refill() time.Duration { return time.Duration(r.Burst) * r.Every }

// Rates returns every rate of l, defaults filled in.
func (l Limits) Rates() []Rate {
	l = l.withDefaults()
	return []Rate{l.LoginPair, l.LoginAccount, l.LoginAddress, l.ClientAddress, l.Client, l.UserCodeAddress, l.UserCodeUser}
}

// LongestRefill returns the longest Refill among l's rates (defaults
// filled in): after that long without a failure, every bucket without debt
// is full again. A shared store may forget a bucket this long after its
// last failure.
func (l Limits) LongestRefill() time.Duration {
	var d time.Duration
	for _, r := range l.Rates() {
		d = max(d, r.Refill())
	}
	return d
}
