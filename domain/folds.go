package domain

import "time"

// The fold table: which events change which kind of state, and how. It is
// written here once; FoldWorld (audit.go) folds the log with it, and the
// read models of package projections fold the same events with it.

// Fold is how events change one kind of state.
type Fold[T any] struct {
	// Kind is the aggregate kind whose events change this state: an event
	// changes the state its aggregate id names.
	Kind string
	// Select, if not nil, decides instead of Kind: it returns the id of the
	// state e changes, and false if e changes none of this kind.
	Select func(e Event) (id string, ok bool)
	// Apply is the pure fold of e, recorded at sequence seq and time at,
	// into s (the zero T for a state not yet created). It never fails and
	// does no I/O; an event that does not concern s returns s unchanged.
	Apply func(s T, e Event, seq uint64, at time.Time) T
	// Ident returns the sequence of the last event Apply took into s, and
	// the id of s: "" for a state whose creating event Apply never took.
	Ident func(s T) (seq uint64, id string)
}

// Target returns the id of the state of this kind that e changes, and
// false if it changes none.
func (f Fold[T]) Target(e Event) (string, bool) {
	if f.Select != nil {
		return f.Select(e)
	}
	if e == nil {
		return "", false
	}
	agg := e.AggregateOf()
	return agg.ID, agg.Kind == f.Kind
}

// into folds e into states, keyed by id, if e changes a state of this
// kind; the entry is written even if the fold left it as it was.
func (f Fold[T]) into(states map[string]T, e Event, seq uint64, at time.Time) {
	if id, ok := f.Target(e); ok {
		states[id] = f.Apply(states[id], e, seq, at)
	}
}

// Folds is the table of every kind of state folded from the log. Its
// values are pure functions: safe for concurrent use.
type Folds struct {
	Clients        Fold[Client]
	Tokens         Fold[AccessToken]
	Families       Fold[RefreshFamily]
	Keys           Fold[SigningKey]
	Users          Fold[User]
	Codes          Fold[AuthCode]
	Authorizations Fold[Authorization]
	Devices        Fold[DeviceCode]
	// EndedSessions takes the SessionEnded events of users' aggregates,
	// each into the session it names (one stamp can have issued: a
	// ValidID); a user's other events change no session.
	EndedSessions Fold[EndedSession]
}

// FoldTable returns the table of folds.
func FoldTable() Folds {
	return Folds{
		Clients: Fold[Client]{Kind: KindClient, Apply: ApplyClient,
			Ident: func(c Client) (uint64, string) { return c.Seq, c.ID }},
		Tokens: Fold[AccessToken]{Kind: KindToken, Apply: ApplyAccessToken,
			Ident: func(t AccessToken) (uint64, string) { return t.Seq, t.ID }},
		Families: Fold[RefreshFamily]{Kind: KindRefresh, Apply: ApplyRefreshFamily,
			Ident: func(f RefreshFamily) (uint64, string) { return f.Seq, f.ID }},
		Keys: Fold[SigningKey]{Kind: KindKey, Apply: ApplySigningKey,
			Ident: func(k SigningKey) (uint64, string) { return k.Seq, k.ID }},
		Users: Fold[User]{Kind: KindUser, Apply: ApplyUser,
			Ident: func(u User) (uint64, string) { return u.Seq, u.ID }},
		Codes: Fold[AuthCode]{Kind: KindCode, Apply: ApplyAuthCode,
			Ident: func(c AuthCode) (uint64, string) { return c.Seq, c.ID }},
		Authorizations: Fold[Authorization]{Kind: KindAuthorization, Apply: ApplyAuthorization,
			Ident: authorizationIdent},
		Devices: Fold[DeviceCode]{Kind: KindDevice, Apply: ApplyDeviceCode,
			Ident: func(d DeviceCode) (uint64, string) { return d.Seq, d.ID }},
		EndedSessions: Fold[EndedSession]{Kind: KindUser, Select: endedSession, Apply: ApplyEndedSession,
			Ident: func(s EndedSession) (uint64, string) { return s.Seq, s.ID }},
	}
}

// authorizationIdent names a consent by its aggregate id, once it has a
// user.
func authorizationIdent(a Authorization) (uint64, string) {
	if a.UserID == "" {
		return a.Seq, ""
	}
	return a.Seq, AuthorizationID(a.UserID, a.ClientID)
}

func endedSession(e Event) (string, bool) {
	ended, ok := e.(SessionEnded)
	if !ok || !ValidID(ended.SessionID) {
		return "", false
	}
	return ended.SessionID, true
}
