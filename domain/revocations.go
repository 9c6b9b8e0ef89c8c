package domain

import "time"

// RevocationSink is told what a revocation feed learns from the log: the
// tokens that stopped validating before their expiry. The event store's
// feed (eventstore.RevocationFeed) calls it and a resource server's guard
// (httpapi/guard) implements it; both name this one interface, so neither
// imports the other. A feed calls a sink from one goroutine at a time.
type RevocationSink interface {
	// Revoked: the access token jti stopped validating; until is when the
	// revocation may be forgotten (RevocationWindow.Until): the token has
	// expired by then, clock skew included.
	Revoked(jti string, until time.Time)
	// ClientDeleted: every token of the client stopped validating, forever.
	ClientDeleted(id string)
	// UserDeleted: every token of the user stopped validating, forever.
	UserDeleted(id string)
	// Current reports whether the sink has been told everything the log
	// held up to a moment ago: true once the feed has caught up and while
	// it stays connected, false when it loses the connection or the
	// server stops answering, until it has caught up again. A guard
	// refuses to answer while it is false.
	Current(current bool)
}

// DefaultRevocationMargin widens a RevocationWindow for clock skew between
// the authorization server, NATS and a resource server.
const DefaultRevocationMargin = 5 * time.Minute

// RevocationWindow is the rule for how long a revocation matters. A
// revoked access token matters until it would have expired anyway, so a
// resource server need only learn the revocations of the last MaxLifetime
// and may forget each one after its token's expiry; Margin widens both for
// clock skew. The zero value remembers nothing: set MaxLifetime (the
// longest lifetime of any token the server issues, personal access tokens
// included) and Margin (usually DefaultRevocationMargin).
type RevocationWindow struct {
	// MaxLifetime is the longest lifetime of any token issued.
	MaxLifetime time.Duration
	// Margin is added on both sides for clock skew; zero trusts the clocks.
	Margin time.Duration
}

// Since returns the earliest time at which a revocation still matters at
// now: a token revoked before it had expired by now, however long it was
// issued for. A feed reads the log from there.
func (w RevocationWindow) Since(now time.Time) time.Time {
	return now.Add(-w.MaxLifetime - w.Margin)
}

// Until returns when the revocation e, recorded at revokedAt, may be
// forgotten: the token's expiry plus Margin, or, for an event that does
// not carry the expiry (written before it did), revokedAt plus MaxLifetime
// plus Margin, the latest the token can expire.
func (w RevocationWindow) Until(revokedAt time.Time, e AccessTokenRevoked) time.Time {
	if !e.ExpiresAt.IsZero() {
		return e.ExpiresAt.Add(w.Margin)
	}
	return revokedAt.Add(w.MaxLifetime + w.Margin)
}
