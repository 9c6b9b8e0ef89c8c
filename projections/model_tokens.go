package projections

import (
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// The names of the listing indexes of the tokens and refresh families
// models.
const (
	byClient  = "by-client"
	byUser    = "by-user"
	byExpiry  = "by-expiry"
	byRevoked = "by-revoked"
)

// The access tokens model: tokens/id/<jti>, domain.AccessToken as JSON,
// filed by client, by user (tokens with a user only), by expiry and by
// revocation time (revoked tokens only). A TokensPurged drops the tokens
// it purges (domain.TokensPurged.Purges), found through the expiry index
// if it purges expired tokens and the revocation index if it purges
// revoked ones.
func tokensModel(f domain.Fold[domain.AccessToken]) *model[domain.AccessToken] {
	return &model[domain.AccessToken]{
		name: ModelTokens,
		fold: f,
		lists: []listIndex[domain.AccessToken]{
			{name: byClient, owner: func(t domain.AccessToken) string { return t.ClientID }},
			{name: byUser, owner: func(t domain.AccessToken) string { return t.UserID }},
			{name: byExpiry, owner: func(t domain.AccessToken) string { return timeKey(t.ExpiresAt) }, purgedBy: purgesExpired},
			{name: byRevoked, owner: func(t domain.AccessToken) string { return revokedKey(t.Revoked, t.RevokedAt) }, purgedBy: purgesRevoked},
		},
		purge: &purgeRule[domain.AccessToken]{
			on: purgeOfTokensPurged,
			drops: func(p domain.TokensPurged, t domain.AccessToken) bool {
				return p.Purges(t.Revoked, t.RevokedAt, t.ExpiresAt)
			},
		},
	}
}

func purgesExpired(p domain.TokensPurged) bool { return p.Expired }
func purgesRevoked(p domain.TokensPurged) bool { return p.Revoked }

// revokedKey is the owner of a record in a revocation index: its
// revocation time, or "" (none) if it is not revoked.
func revokedKey(revoked bool, at time.Time) string {
	if !revoked {
		return ""
	}
	return timeKey(at)
}
