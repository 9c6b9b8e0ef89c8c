package listeners

import (
	"context"

	"github.com/stamp-oauth/stamp/domain"
)

// The ports below are what the listeners read and write through; cmd/stamp
// fills them with the projections' read models and the domain.Service. All
// must be safe for concurrent use, since each listener runs on its own
// goroutine.

// Waiter blocks until the local read models have applied stream sequence
// seq, or ctx ends (then it returns ctx's error). A listener waits for its
// event's sequence before reading a read model, so it sees at least the
// state that event produced.
type Waiter interface {
	WaitFor(ctx context.Context, seq uint64) error
}

// UserTokens lists the access tokens issued for a user, revoked and expired
// ones included (until purged); none is not an error.
type UserTokens interface {
	AccessTokensByUser(ctx context.Context, userID string) ([]domain.AccessToken, error)
}

// TokenRevoker revokes an access token in reaction to the event whose
// envelope id is cause (domain.Service.RevokeAccessTokenCausedBy):
// revoking a revoked token changes nothing, the revocation's event id
// derives from cause and the token, and an unknown token is an error
// wrapping domain.ErrNotFound.
type TokenRevoker interface {
	RevokeAccessTokenCausedBy(ctx context.Context, actor domain.Actor, jti, reason, cause string) error
}

// UserFamilies lists the refresh token families of a user, revoked and
// expired ones included (until purged); none is not an error.
type UserFamilies interface {
	RefreshFamiliesByUser(ctx context.Context, userID string) ([]domain.RefreshFamily, error)
}

// FamilyRevoker revokes a refresh token family in reaction to the event
// whose envelope id is cause (domain.Service.RevokeRefreshFamily), with
// the same idempotence as TokenRevoker; an unknown family is an error
// wrapping domain.ErrNotFound.
type FamilyRevoker interface {
	RevokeRefreshFamily(ctx context.Context, actor domain.Actor, familyID, reason, cause string) error
}
