package projections

import "github.com/stamp-oauth/stamp/domain"

// codesByHash is the unique index of authorization code hashes.
const codesByHash unique = "codes/by-hash/"

// The authorization codes model: codes/id/<code id>, domain.AuthCode as
// JSON, found by the hash of the code and filed by expiry. A purge of
// expired tokens drops the codes that expired before its Before: a code is
// of no use after its expiry, but a redeemed one is kept until then, so
// that a second use of it is recognised as reuse.
func codesModel(f domain.Fold[domain.AuthCode]) *model[domain.AuthCode] {
	return &model[domain.AuthCode]{
		name: ModelCodes,
		fold: f,
		lists: []listIndex[domain.AuthCode]{
			{name: byExpiry, owner: func(c domain.AuthCode) string { return timeKey(c.ExpiresAt) }, purgedBy: purgesExpired},
		},
		uniques: []uniqueIndex[domain.AuthCode]{
			{x: codesByHash, values: func(c domain.AuthCode) []string { return []string{c.Hash} }},
		},
		purge: &purgeRule[domain.AuthCode]{
			on:    purgeOfTokensPurged,
			drops: func(p domain.TokensPurged, c domain.AuthCode) bool { return c.ExpiresAt.Before(p.Before) },
		},
	}
}
