package projections

import (
	"github.com/stamp-oauth/stamp/domain"
)

// A read model is declared as data, one file each (model_<name>.go): its
// key prefix, the domain fold it applies (domain.FoldTable), its listing
// and unique indexes, and its purge rule. One fold (model.apply), one
// index maintenance (index.go) and one purge (purge.go) serve them all.
//
// A record of model m is at m/id/<id>, its state as JSON. A listing index
// files it under an owner at m/<index>/<owner>/<id>, with the id as value;
// an index whose owners are times (timeKey) is a time index, read by
// purges. A unique index maps a value to the record holding it (unique.go).

// model declares one read model over state T. Its values never change
// after declare, so one is safe for concurrent use.
type model[T any] struct {
	name Model
	fold domain.Fold[T]
	// lists are the listing indexes, in no particular order.
	lists []listIndex[T]
	// uniques are the unique indexes.
	uniques []uniqueIndex[T]
	// purge drops records; nil for a model never purged.
	purge *purgeRule[T]
}

// listIndex files each record under an owner.
type listIndex[T any] struct {
	name string // its key segment, "by-client"
	// owner returns what the record is filed under; "" files it nowhere.
	owner func(T) string
	// purgedBy, for a time index, reports whether purge p drops records
	// through this index (owners before p.Before); nil for other indexes.
	purgedBy func(p domain.TokensPurged) bool
}

// uniqueIndex maps each of a record's values to the record.
type uniqueIndex[T any] struct {
	x unique
	// values returns the record's values ("" holds none).
	values func(T) []string
	// shared values are joined and left (claimants in order, see join);
	// others are claimed and released, the last claim winning.
	shared bool
}

// purgeRule says when and what a model purges.
type purgeRule[T any] struct {
	// on returns the purge an event makes of the model, if any.
	on func(rec domain.Recorded, ev domain.Event) (domain.TokensPurged, bool)
	// drops reports whether p drops the record, found through a time
	// index that p reads.
	drops func(p domain.TokensPurged, rec T) bool
}

// purgeOfTokensPurged is the purge rule's on of the models a
// TokensPurged purges, and only it.
func purgeOfTokensPurged(_ domain.Recorded, ev domain.Event) (domain.TokensPurged, bool) {
	p, ok := ev.(domain.TokensPurged)
	return p, ok
}

// idKey is the key of the record id of model m.
func (m Model) idKey(id string) []byte { return cat(string(m), "/id/", id) }

// idPrefix is the prefix of every record of model m.
func (m Model) idPrefix() []byte { return cat(string(m), "/id/") }

func (m *model[T]) indexPrefix(l *listIndex[T]) string { return string(m.name) + "/" + l.name + "/" }

// ownedBy returns the prefix of owner's entries in l.
func (m *model[T]) ownedBy(l *listIndex[T], owner string) []byte {
	return cat(m.indexPrefix(l), owner, "/")
}

func (m *model[T]) entryKey(l *listIndex[T], owner, id string) []byte {
	return cat(m.indexPrefix(l), owner, "/", id)
}

// list returns the listing index named name (one of the constants of the
// model files), or nil if m has none of that name.
func (m *model[T]) list(name string) *listIndex[T] {
	for i := range m.lists {
		if m.lists[i].name == name {
			return &m.lists[i]
		}
	}
	return nil
}

// folder is a model as a writer sees it, whatever its state.
type folder interface {
	// named returns the model's name.
	named() Model
	// apply folds ev (not nil), the event of rec, into the model.
	apply(w *writer, rec domain.Recorded, ev domain.Event) error
	// purges reports whether ev purges the model: it reads time indexes,
	// which hold committed entries only.
	purges(rec domain.Recorded, ev domain.Event) bool
}

// apply purges what ev purges, then, if ev changes a state of the model,
// loads the state, applies the pure domain fold with the event's sequence
// and time, keeps the indexes in step, and stores the result. A fold that
// leaves the state as it was (its sequence is not the event's) writes
// nothing, and so does one whose result has no id: the aggregate's
// creating event never reached this model, and a record without an id
// would only mislead a reader.
func (m *model[T]) apply(w *writer, rec domain.Recorded, ev domain.Event) error {
	if p, ok := m.purgeOf(rec, ev); ok {
		if err := purge(w, m, p); err != nil {
			return err
		}
	}
	id, ok := m.fold.Target(ev)
	if !ok {
		return nil
	}
	key := m.name.idKey(id)
	var old T
	if _, err := w.load(key, &old); err != nil {
		return err
	}
	next := m.fold.Apply(old, ev, rec.Seq, rec.Envelope.Time)
	seq, is := m.fold.Ident(next)
	if seq != rec.Seq || is == "" {
		return nil
	}
	_, was := m.fold.Ident(old)
	if err := reindex(w, m, old, was, next, is); err != nil {
		return err
	}
	return w.store(key, next)
}

func (m *model[T]) named() Model { return m.name }

func (m *model[T]) purgeOf(rec domain.Recorded, ev domain.Event) (domain.TokensPurged, bool) {
	if m.purge == nil {
		return domain.TokensPurged{}, false
	}
	return m.purge.on(rec, ev)
}

func (m *model[T]) purges(rec domain.Recorded, ev domain.Event) bool {
	_, ok := m.purgeOf(rec, ev)
	return ok
}

// models holds the declaration of every model of a Store, made once by
// declare.
type models struct {
	clients        *model[domain.Client]
	tokens         *model[domain.AccessToken]
	keys           *model[domain.SigningKey]
	families       *model[domain.RefreshFamily]
	users          *model[domain.User]
	codes          *model[domain.AuthCode]
	authorizations *model[domain.Authorization]
	devices        *model[domain.DeviceCode]
	sessions       *model[domain.EndedSession]
	// folders are the same models in the order they apply an event (the
	// order of Models).
	folders [numModels]folder
}

// declare returns the declarations of every model.
func declare() *models {
	f := domain.FoldTable()
	ms := &models{
		clients:        clientsModel(f.Clients),
		tokens:         tokensModel(f.Tokens),
		keys:           keysModel(f.Keys),
		families:       familiesModel(f.Families),
		users:          usersModel(f.Users),
		codes:          codesModel(f.Codes),
		authorizations: authorizationsModel(f.Authorizations),
		devices:        devicesModel(f.Devices),
		sessions:       sessionsModel(f.EndedSessions),
	}
	ms.folders = [numModels]folder{
		idxClients: ms.clients, idxTokens: ms.tokens, idxKeys: ms.keys,
		idxRefresh: ms.families, idxUsers: ms.users, idxCodes: ms.codes,
		idxAuthorizations: ms.authorizations, idxDevices: ms.devices,
		idxSessions: ms.sessions, idxEvents: eventIndex{},
	}
	return ms
}

// startsBatch reports whether ev must be applied on a batch holding no
// other uncommitted event: it purges a model, and a purge reads time
// indexes, which hold committed entries only.
func (ms *models) startsBatch(rec domain.Recorded, ev domain.Event) bool {
	for _, f := range ms.folders {
		if f.purges(rec, ev) {
			return true
		}
	}
	return false
}
