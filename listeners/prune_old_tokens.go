package listeners

import (
	"context"
	"errors"
	"fmt"

	"github.com/stamp-oauth/stamp/domain"
)

// PruneOldTokens is the listener of Passport's documented PruneOldTokens
// example: when a user starts a new refresh token family with a client, it
// revokes the user's live families with that client beyond the newest
// Keep, so a user holds at most Keep long-lived grants per client (one per
// device, say). Revoking a family also revokes the access token it last
// issued.
//
// Only an event that starts a family counts: a rotation (ParentID set)
// adds no family. The new family is always kept, as the newest; the others
// are ordered newest first by CreatedAt, ties broken by the larger id, and
// those beyond Keep-1 of them are revoked. Liveness is judged at the
// event's envelope time, not the clock, and families begun after the new
// token's issue time are left to their own events; revocations only shrink
// the live set, so a redelivery revokes nothing the first delivery did not.
//
// Its methods are safe for concurrent use.
type PruneOldTokens struct {
	keep     int
	wait     Waiter
	families UserFamilies
	revoker  FamilyRevoker
}

// PruneOldTokensName is the durable consumer name of PruneOldTokens.
const PruneOldTokensName = "prune-old-tokens"

// pruneOldTokensActor is the actor of the revocations it appends.
var pruneOldTokensActor = domain.Actor{Kind: domain.ActorSystem, ID: PruneOldTokensName}

// NewPruneOldTokens returns the listener keeping keep families per user
// and client. It waits on wait before reading families, and revokes through
// revoker (the domain.Service); none may be nil. It returns an error if
// keep is below 1.
func NewPruneOldTokens(keep int, wait Waiter, families UserFamilies, revoker FamilyRevoker) (*PruneOldTokens, error) {
	if keep < 1 {
		return nil, fmt.Errorf("listeners: %s: keep must be at least 1, got %d", PruneOldTokensName, keep)
	}
	return &PruneOldTokens{keep: keep, wait: wait, families: families, revoker: revoker}, nil
}

// Keep returns how many live families per user and client it keeps.
func (l *PruneOldTokens) Keep() int { return l.keep }

// Name returns "prune-old-tokens".
func (*PruneOldTokens) Name() string { return PruneOldTokensName }

// Filter returns the subjects of RefreshTokenCreated events.
func (*PruneOldTokens) Filter() string {
	return domain.SubjectRoot + "." + domain.KindRefresh + ".*.RefreshTokenCreated"
}

// Handle revokes the families beyond Keep (domain.DecideFamiliesPruned
// decides which), with the event's envelope id as cause and reason
// domain.ReasonPruned. A family purged meanwhile (ErrNotFound) is
// skipped. It tries every family and returns the other errors joined; a
// retry then revokes only what is still live.
func (l *PruneOldTokens) Handle(ctx context.Context, rec domain.Recorded, e domain.Event) error {
	created, ok := e.(domain.RefreshTokenCreated)
	if !ok || created.UserID == "" || created.ParentID != "" {
		return nil
	}
	if err := l.wait.WaitFor(ctx, rec.Seq); err != nil {
		return fmt.Errorf("listeners: %s: wait for %d: %w", l.Name(), rec.Seq, err)
	}
	families, err := l.families.RefreshFamiliesByUser(ctx, created.UserID)
	if err != nil {
		return fmt.Errorf("listeners: %s: families of user %s: %w", l.Name(), created.UserID, err)
	}
	pruned, err := domain.DecideFamiliesPruned(families, domain.FamilyPrune{Created: created, Keep: l.keep}, rec.Envelope.Time, nil)
	if err != nil {
		return fmt.Errorf("listeners: %s: %w", l.Name(), err)
	}
	var errs []error
	for _, id := range pruned {
		err := l.revoker.RevokeRefreshFamily(ctx, pruneOldTokensActor, id, domain.ReasonPruned, rec.Envelope.ID)
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			errs = append(errs, fmt.Errorf("listeners: %s: revoke family %s: %w", l.Name(), id, err))
		}
	}
	return errors.Join(errs...)
}
