package projections

import "github.com/stamp-oauth/stamp/domain"

// The authorizations (consents) model: authorizations/id/<user id>_<client
// id>, domain.Authorization as JSON, filed by user. The aggregate id names
// the user and the client, so a consent never moves to another user; a
// revoked one stays, flagged. Never purged.
func authorizationsModel(f domain.Fold[domain.Authorization]) *model[domain.Authorization] {
	return &model[domain.Authorization]{
		name: ModelAuthorizations,
		fold: f,
		lists: []listIndex[domain.Authorization]{
			{name: byUser, owner: func(a domain.Authorization) string { return a.UserID }},
		},
	}
}
