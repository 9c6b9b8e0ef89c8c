package listeners

import (
	"context"
	"errors"
	"fmt"

	"github.com/stamp-oauth/stamp/domain"
)

// RevokeOldTokens is the listener of Passport's documented RevokeOldTokens
// example: when an access token is issued for a user, the user's older
// access tokens for the same client stop validating, so a user holds one
// live token per client.
//
// "Older" means appended to the log before the new token (a smaller stream
// sequence), not an earlier IssuedAt: the sequence is one total order,
// while IssuedAt comes from the clocks of several instances, and an
// IssuedAt rule would let a token appended later with a skewed earlier time
// be revoked or spared depending on how far the read model had got. Only
// tokens appended before the event count, and every one of them is applied
// once the Waiter returns, so a redelivery decides the same. A live
// token's Seq is that of its AccessTokenCreated, since no other event
// changes a token that is not revoked.
//
// Tokens without a user (client credentials) trigger nothing. Personal
// access tokens neither trigger nor suffer a revocation: they are named
// credentials a user creates side by side on purpose, all from the one
// personal access client. Tokens already revoked, or expired when the new
// one was issued, are left alone.
//
// Its methods are safe for concurrent use.
type RevokeOldTokens struct {
	wait    Waiter
	tokens  UserTokens
	revoker TokenRevoker
}

// RevokeOldTokensName is the durable consumer name of RevokeOldTokens.
const RevokeOldTokensName = "revoke-old-tokens"

// revokeOldTokensActor is the actor of the revocations it appends.
var revokeOldTokensActor = domain.Actor{Kind: domain.ActorSystem, ID: RevokeOldTokensName}

// NewRevokeOldTokens returns the listener. It waits on wait before reading
// tokens, and revokes through revoker (the domain.Service). None may be nil.
func NewRevokeOldTokens(wait Waiter, tokens UserTokens, revoker TokenRevoker) *RevokeOldTokens {
	return &RevokeOldTokens{wait: wait, tokens: tokens, revoker: revoker}
}

// Name returns "revoke-old-tokens".
func (*RevokeOldTokens) Name() string { return RevokeOldTokensName }

// Filter returns the subjects of AccessTokenCreated events.
func (*RevokeOldTokens) Filter() string {
	return domain.SubjectRoot + "." + domain.KindToken + ".*.AccessTokenCreated"
}

// Handle revokes the older live tokens of the new token's user and client
// (domain.DecideTokensReplaced decides which), with the event's envelope
// id as cause and reason domain.ReasonReplacedByNewer. A token purged
// meanwhile (ErrNotFound) is skipped. It tries every token and returns
// the other errors joined; a retry then revokes only what is still live.
func (l *RevokeOldTokens) Handle(ctx context.Context, rec domain.Recorded, e domain.Event) error {
	created, ok := e.(domain.AccessTokenCreated)
	if !ok || created.UserID == "" || created.GrantType == domain.GrantPersonalAccess {
		return nil
	}
	if err := l.wait.WaitFor(ctx, rec.Seq); err != nil {
		return fmt.Errorf("listeners: %s: wait for %d: %w", l.Name(), rec.Seq, err)
	}
	tokens, err := l.tokens.AccessTokensByUser(ctx, created.UserID)
	if err != nil {
		return fmt.Errorf("listeners: %s: tokens of user %s: %w", l.Name(), created.UserID, err)
	}
	replaced, err := domain.DecideTokensReplaced(tokens, domain.TokenReplacement{Created: created, Seq: rec.Seq}, rec.Envelope.Time, nil)
	if err != nil {
		return fmt.Errorf("listeners: %s: %w", l.Name(), err)
	}
	var errs []error
	for _, jti := range replaced {
		err := l.revoker.RevokeAccessTokenCausedBy(ctx, revokeOldTokensActor, jti, domain.ReasonReplacedByNewer, rec.Envelope.ID)
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			errs = append(errs, fmt.Errorf("listeners: %s: revoke %s: %w", l.Name(), jti, err))
		}
	}
	return errors.Join(errs...)
}
