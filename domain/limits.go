package domain

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Rate is a token bucket of failed attempts: Burst failures at once, then
// one more every Every. Name tells the buckets of one rate from another's:
// the same key under two rates is two buckets.
type Rate struct {
	Name  string
	Burst int
	Every time.Duration
}

// Limiter counts failed attempts per key, a token bucket per (rate, key),
// for the rules below (see Limits). Only failures are counted: a request is
// refused while its bucket is empty, never because it succeeded before.
// It is declared here, where it is used, so that a cluster can back it
// with a shared store (DESIGN.md principle 6); stamp's own is per process.
// Implementations are safe for concurrent use; an error is a failure of
// the store, not a refusal.
type Limiter interface {
	// Wait returns how long key must wait under rate before its next
	// attempt: 0 when it may attempt now.
	Wait(ctx context.Context, rate Rate, key string) (time.Duration, error)
	// Fail records one failed attempt of key under rate.
	Fail(ctx context.Context, rate Rate, key string) error
	// Reset forgets the failures of key under rate.
	Reset(ctx context.Context, rate Rate, key string) error
}

// Limits are the rates failed attempts are limited at. A zero Rate is
// replaced by DefaultLimits' when the Config is validated.
type Limits struct {
	// LoginPair limits wrong passwords for one account from one address
	// (login page and password grant); a success resets it.
	LoginPair Rate
	// LoginAccount limits wrong passwords for one account from every
	// address together: slower and more generous than LoginPair, so one
	// address alone cannot exhaust it (its pair runs dry first).
	LoginAccount Rate
	// LoginAddress limits wrong passwords from one address for every
	// account together (password spraying).
	LoginAddress Rate
	// ClientAddress limits failed client authentications from one address
	// (every client-authenticated endpoint). It is checked before the
	// credentials are.
	ClientAddress Rate
	// Client limits failed authentications of one client id from every
	// address. A client secret has 256 bits and cannot be guessed, so this
	// one is checked only after a failure: a correct secret is never
	// refused because others failed with the client's id.
	Client Rate
	// UserCodeAddress and UserCodeUser limit wrong device user codes
	// (RFC 8628 §5.1) from one address and by one logged-in user.
	UserCodeAddress Rate
	UserCodeUser    Rate
}

// DefaultLimits returns stamp's rates:
//
//   - a login pair (account, address): 10 failures, then 1 a minute;
//   - an account: 100 failures, then 1 every 36 s (100 an hour);
//   - an address, logins: 100 failures, then 1 every 3 s (1200 an hour);
//   - an address, client authentication: 20 failures, then 1 every 6 s;
//   - a client id: 60 failures, then 1 every 6 s;
//   - user codes, per address and per user: 10 failures, then 1 every 30 s.
func DefaultLimits() Limits {
	return Limits{
		LoginPair:       Rate{"login-pair", 10, time.Minute},
		LoginAccount:    Rate{"login-account", 100, 36 * time.Second},
		LoginAddress:    Rate{"login-address", 100, 3 * time.Second},
		ClientAddress:   Rate{"client-address", 20, 6 * time.Second},
		Client:          Rate{"client", 60, 6 * time.Second},
		UserCodeAddress: Rate{"user-code-address", 10, 30 * time.Second},
		UserCodeUser:    Rate{"user-code-user", 10, 30 * time.Second},
	}
}

// withDefaults fills each zero rate of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	def := DefaultLimits()
	for _, p := range []struct{ got, def *Rate }{
		{&l.LoginPair, &def.LoginPair}, {&l.LoginAccount, &def.LoginAccount}, {&l.LoginAddress, &def.LoginAddress},
		{&l.ClientAddress, &def.ClientAddress}, {&l.Client, &def.Client},
		{&l.UserCodeAddress, &def.UserCodeAddress}, {&l.UserCodeUser, &def.UserCodeUser},
	} {
		if p.got.Burst <= 0 || p.got.Every <= 0 {
			*p.got = *p.def
		}
		if p.got.Name == "" {
			p.got.Name = p.def.Name
		}
	}
	return l
}

// ErrRateLimited: too many failed attempts for an account, a client or
// an address. The error returned wraps it in a *RetryError saying when to
// retry.
var ErrRateLimited = errors.New("domain: too many attempts, try again later")

// ErrTemporarilyUnavailable is RFC 6749 §4.1.2.1's temporarily_unavailable:
// the server is too busy to answer now (every password hashing slot is
// taken). The error returned wraps it in a *RetryError.
var ErrTemporarilyUnavailable = &OAuthError{Code: "temporarily_unavailable"}

// RetryError is a refusal the caller may retry After: Err is
// ErrRateLimited or ErrTemporarilyUnavailable (with a description).
// errors.Is and errors.As see through it to Err.
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string { return fmt.Sprintf("%v (retry after %v)", e.Err, e.After) }
func (e *RetryError) Unwrap() error { return e.Err }

// limitKey is one bucket to check or count.
type limitKey struct {
	rate Rate
	key  string
}

// limited returns a *RetryError wrapping ErrRateLimited, with the longest
// wait, when any of keys must wait; nil when all may go ahead (or no
// limiter is configured).
func (s *Service) limited(ctx context.Context, keys ...limitKey) error {
	l := s.ports.Limiter
	if l == nil {
		return nil
	}
	var wait time.Duration
	for _, k := range keys {
		w, err := l.Wait(ctx, k.rate, k.key)
		if err != nil {
			return fmt.Errorf("domain: rate limit %s: %w", k.rate.Name, err)
		}
		wait = max(wait, w)
	}
	if wait > 0 {
		return &RetryError{Err: ErrRateLimited, After: wait}
	}
	return nil
}

// failed counts one failed attempt in each of keys.
func (s *Service) failed(ctx context.Context, keys ...limitKey) error {
	l := s.ports.Limiter
	if l == nil {
		return nil
	}
	for _, k := range keys {
		if err := l.Fail(ctx, k.rate, k.key); err != nil {
			return fmt.Errorf("domain: rate limit %s: %w", k.rate.Name, err)
		}
	}
	return nil
}

// succeeded forgets the failures of key.
func (s *Service) succeeded(ctx context.Context, k limitKey) error {
	l := s.ports.Limiter
	if l == nil {
		return nil
	}
	if err := l.Reset(ctx, k.rate, k.key); err != nil {
		return fmt.Errorf("domain: rate limit %s: %w", k.rate.Name, err)
	}
	return nil
}

// addressKey is the limiter key of a client address: the address itself,
// or for IPv6 its /64, which one host usually holds whole (so a client
// cannot get fresh buckets by changing its interface id). Text that is
// not an address (none known) is kept as it is.
func addressKey(remote string) string {
	a, err := netip.ParseAddr(remote)
	if err != nil {
		if len(remote) > 64 {
			return HashSecret(remote)
		}
		return remote
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// accountKey is the limiter key of a login name: its hash, so that no
// email address sits in the limiter's store, and a bounded length.
func accountKey(email string) string { return HashSecret(NormalizeEmail(email)) }
