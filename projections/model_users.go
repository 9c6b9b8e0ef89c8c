package projections

import "github.com/stamp-oauth/stamp/domain"

// usersByEmail is the unique index of users' normalized emails: the ids
// of the email's live users, comma-separated, the first holding it.
const usersByEmail unique = "users/by-email/"

// The users model: users/id/<user id>, domain.User as JSON, found by
// email. A user not deleted claims its normalized email, and the first
// claimant holds it (see join: two racing registrations of one email may
// both reach the log); a deleted user leaves it, so the email passes to
// the next claimant or, with none, can be registered again, while the
// deleted user's record stays, flagged. Never purged.
func usersModel(f domain.Fold[domain.User]) *model[domain.User] {
	return &model[domain.User]{
		name: ModelUsers,
		fold: f,
		uniques: []uniqueIndex[domain.User]{{x: usersByEmail, shared: true,
			values: func(u domain.User) []string { return []string{emailOf(u)} }}},
	}
}

// emailOf returns the email u holds in the email index: its normalized
// email while it exists, else "".
func emailOf(u domain.User) string {
	if !u.Exists() {
		return ""
	}
	return domain.NormalizeEmail(u.Email)
}
