package domain

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"time"
)

// The decisions of the listeners (package listeners) that react to token
// events: each listener waits for its event, loads the state below from
// a read model, decides here, and revokes through the Service.

// TokenReplacement is the command of DecideTokensReplaced: the token
// created, and the stream sequence of its AccessTokenCreated.
type TokenReplacement struct {
	Created AccessTokenCreated
	Seq     uint64
}

// DecideTokensReplaced decides which of state, the access tokens of the
// new token's user, the token cmd.Created replaces (Passport's
// RevokeOldTokens listener: a user holds one live token per client). They
// are those of the same user and client, appended before it (a smaller
// stream sequence: one total order, where IssuedAt comes from the clocks
// of several instances), not personal, not revoked and not expired at its
// issue time. A token without a user (client credentials) or a personal
// access token replaces nothing: personal access tokens are named
// credentials a user creates side by side on purpose. It returns their
// ids in ascending order; now and rnd are not used (the decision is the
// same on every redelivery).
func DecideTokensReplaced(state []AccessToken, cmd TokenReplacement, _ time.Time, _ io.Reader) ([]string, error) {
	created := cmd.Created
	if created.UserID == "" || created.GrantType == GrantPersonalAccess {
		return nil, nil
	}
	var out []string
	for _, t := range state {
		if t.ID == created.TokenID || t.UserID != created.UserID || t.ClientID != created.ClientID ||
			t.GrantType == GrantPersonalAccess || t.Seq >= cmd.Seq || !t.Active(created.IssuedAt) {
			continue
		}
		out = append(out, t.ID)
	}
	slices.Sort(out)
	return out, nil
}

// FamilyPrune is the command of DecideFamiliesPruned: the event that
// started a family, and how many live families per user and client to
// keep (at least 1: the new one).
type FamilyPrune struct {
	Created RefreshTokenCreated
	Keep    int
}

// DecideFamiliesPruned decides which of state, the refresh token families
// of the new family's user, to revoke when cmd.Created starts a family at
// now, the event's time (Passport's PruneOldTokens listener: at most Keep
// long-lived grants per user and client). A rotation (ParentID set) or a
// family without a user starts nothing. The new family is always kept, as
// the newest; the other families of its user and client live at now and
// begun no later than its issue time are ordered newest first by
// CreatedAt, ties broken by the larger id, and those beyond Keep-1 of
// them are revoked: their ids, newest first. Revocations only shrink the
// live set, so a redelivery revokes nothing the first did not. Keep below
// 1 is an error.
func DecideFamiliesPruned(state []RefreshFamily, cmd FamilyPrune, now time.Time, _ io.Reader) ([]string, error) {
	if cmd.Keep < 1 {
		return nil, fmt.Errorf("domain: prune families: keep must be at least 1, got %d", cmd.Keep)
	}
	created := cmd.Created
	if created.UserID == "" || created.ParentID != "" {
		return nil, nil
	}
	var live []RefreshFamily
	for _, f := range state {
		if f.ID == created.FamilyID || f.UserID != created.UserID || f.ClientID != created.ClientID ||
			f.CreatedAt.After(created.IssuedAt) || !f.Live(now) {
			continue
		}
		live = append(live, f)
	}
	slices.SortFunc(live, func(a, b RefreshFamily) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	var out []string
	for i, f := range live {
		if i >= cmd.Keep-1 {
			out = append(out, f.ID)
		}
	}
	return out, nil
}
