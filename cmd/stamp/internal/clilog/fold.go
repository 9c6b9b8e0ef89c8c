package clilog

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// Replayer reads the log: the records on subjects matching filter, in
// stream order, from sequence from (eventstore.Store).
type Replayer interface {
	Replay(ctx context.Context, from uint64, filter string, fn func(domain.Recorded) error) error
}

// World serves the clients, users and signing keys folded from the log,
// as the read ports of domain.Service do (domain.ErrNotFound for an
// unknown id). Safe for concurrent use: it never changes.
type World struct{ w domain.World }

var (
	_ domain.ClientReader = World{}
	_ domain.UserReader   = World{}
	_ domain.KeyReader    = World{}
)

// Fold reads every record of the given aggregate kinds (domain.KindClient,
// …) from the whole log, reveals the users' personal fields with keys,
// and folds them as of now. It fails when a read fails or a key cannot be
// read (not when one is erased).
func Fold(ctx context.Context, log Replayer, keys KeyReader, kinds ...string) (World, error) {
	var recs []domain.Recorded
	for _, k := range kinds {
		if err := log.Replay(ctx, 0, domain.SubjectRoot+"."+k+".>", func(r domain.Recorded) error {
			recs = append(recs, r)
			return nil
		}); err != nil {
			return World{}, err
		}
	}
	recs, err := Reveal(ctx, keys, recs)
	if err != nil {
		return World{}, err
	}
	w, _, err := domain.FoldWorld(recs, time.Time{})
	return World{w}, err
}

// Client returns the client with id id.
func (v World) Client(_ context.Context, id string) (domain.Client, error) {
	if c, ok := v.w.Clients[id]; ok {
		return c, nil
	}
	return domain.Client{}, domain.ErrNotFound
}

// Clients returns every client, deleted ones included, in no order.
func (v World) Clients(context.Context) ([]domain.Client, error) {
	out := make([]domain.Client, 0, len(v.w.Clients))
	for _, c := range v.w.Clients {
		out = append(out, c)
	}
	return out, nil
}

// SigningKeys returns the signing keys, oldest first.
func (v World) SigningKeys(context.Context) ([]domain.SigningKey, error) {
	out := make([]domain.SigningKey, 0, len(v.w.Keys))
	for _, k := range v.w.Keys {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b domain.SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// User returns the user with id id.
func (v World) User(_ context.Context, id string) (domain.User, error) {
	if u, ok := v.w.Users[id]; ok {
		return u, nil
	}
	return domain.User{}, domain.ErrNotFound
}

// UserByEmail returns the live user with that email (normalized), never
// an erased one.
func (v World) UserByEmail(_ context.Context, email string) (domain.User, error) {
	for _, u := range v.w.Users {
		if u.Exists() && u.Email != domain.Erased && u.Email == domain.NormalizeEmail(email) {
			return u, nil
		}
	}
	return domain.User{}, domain.ErrNotFound
}

// LiveClientWith returns the id of a live client allowed grant, or "".
func (v World) LiveClientWith(grant string) string {
	for id, c := range v.w.Clients {
		if c.Exists() && c.HasGrant(grant) {
			return id
		}
	}
	return ""
}

// Keys is a domain.KeyReader over the log, for CLI commands that decide
// on keys while the read models belong to a server: each call folds the
// key records anew.
type Keys struct {
	Log      Replayer
	UserKeys KeyReader
}

// SigningKeys returns the signing keys the log announced, oldest first.
func (k Keys) SigningKeys(ctx context.Context) ([]domain.SigningKey, error) {
	w, err := Fold(ctx, k.Log, k.UserKeys, domain.KindKey)
	if err != nil {
		return nil, err
	}
	return w.SigningKeys(ctx)
}
