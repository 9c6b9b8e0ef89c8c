package domain

import "time"

// TokensPurged: an operator compacted the read models, as passport:purge.
// Events are never deleted; this event tells every read model to drop the
// tokens and refresh families revoked (when Revoked) or expired (when
// Expired) before Before. Because it is an event, every instance purges
// the same records, and a rebuild from the log purges them again at the
// same point, byte for byte. Its aggregate id is the purge's own id.
type TokensPurged struct {
	PurgeID string    `json:"purge_id"`
	Before  time.Time `json:"before"`
	Revoked bool      `json:"revoked"`
	Expired bool      `json:"expired"`
}

func (TokensPurged) EventType() string        { return "TokensPurged" }
func (TokensPurged) EventVersion() int        { return 1 }
func (e TokensPurged) AggregateOf() Aggregate { return Aggregate{KindPurge, e.PurgeID} }

// Purges reports whether p drops a token or family with the given
// revocation and expiry.
func (p TokensPurged) Purges(revoked bool, revokedAt, expiresAt time.Time) bool {
	return p.Revoked && revoked && revokedAt.Before(p.Before) || p.Expired && expiresAt.Before(p.Before)
}
