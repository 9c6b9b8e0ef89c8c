package domain

import "context"

// userGone reports whether a token's user no longer exists: a load the
// grants, introspection and token minting make before deciding on a
// user's token. A user the read model cannot answer for counts as gone.
func (s *Service) userGone(ctx context.Context, userID string) bool {
	if userID == "" || s.ports.Users == nil {
		return false
	}
	u, err := s.ports.Users.User(ctx, userID)
	return err != nil || !u.Exists()
}
