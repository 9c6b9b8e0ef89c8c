package projections

import "github.com/stamp-oauth/stamp/domain"

// familiesByHash is the unique index of refresh token hashes: each names
// the family that issued the token, live or rotated out.
const familiesByHash unique = "refresh/by-token-hash/"

// The refresh families model: refresh/id/<family id>,
// domain.RefreshFamily as JSON, filed as access tokens are (by client,
// user, expiry and revocation time) and purged as they are, and found by
// the hash of any token the family issued.
func familiesModel(f domain.Fold[domain.RefreshFamily]) *model[domain.RefreshFamily] {
	return &model[domain.RefreshFamily]{
		name: ModelRefreshFamilies,
		fold: f,
		lists: []listIndex[domain.RefreshFamily]{
			{name: byClient, owner: func(f domain.RefreshFamily) string { return f.ClientID }},
			{name: byUser, owner: func(f domain.RefreshFamily) string { return f.UserID }},
			{name: byExpiry, owner: func(f domain.RefreshFamily) string { return timeKey(f.ExpiresAt) }, purgedBy: purgesExpired},
			{name: byRevoked, owner: func(f domain.RefreshFamily) string { return revokedKey(f.Revoked, f.RevokedAt) }, purgedBy: purgesRevoked},
		},
		uniques: []uniqueIndex[domain.RefreshFamily]{{x: familiesByHash, values: familyHashes}},
		purge: &purgeRule[domain.RefreshFamily]{
			on: purgeOfTokensPurged,
			drops: func(p domain.TokensPurged, f domain.RefreshFamily) bool {
				return p.Purges(f.Revoked, f.RevokedAt, f.ExpiresAt)
			},
		},
	}
}

// familyHashes returns the hashes of f's rotated tokens, in rotation
// order, then of its live one: rotation only appends, so the hashes of a
// family before an event are a prefix of those after it.
func familyHashes(f domain.RefreshFamily) []string {
	hs := make([]string, 0, len(f.Rotated)+1)
	for _, r := range f.Rotated {
		hs = append(hs, r.Hash)
	}
	return append(hs, f.TokenHash)
}
