package domain

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Audits answer "what happened to this token, client or user, and what
// was its state at a given moment" by folding the log itself, never the
// read models: the log is the truth, and it keeps what purge dropped.

// AuditEntry is one event of a history.
type AuditEntry struct {
	Seq   uint64          `json:"seq"`
	Time  time.Time       `json:"time"`
	Type  string          `json:"type"`
	Actor Actor           `json:"actor"`
	Data  json.RawMessage `json:"data"`
}

// World is the state of every aggregate met in a fold, as of a moment.
type World struct {
	Clients        map[string]Client        `json:"clients,omitempty"`
	Tokens         map[string]AccessToken   `json:"tokens,omitempty"`
	Families       map[string]RefreshFamily `json:"families,omitempty"`
	Keys           map[string]SigningKey    `json:"keys,omitempty"`
	Users          map[string]User          `json:"users,omitempty"`
	Codes          map[string]AuthCode      `json:"codes,omitempty"`
	Authorizations map[string]Authorization `json:"authorizations,omitempty"`
	Devices        map[string]DeviceCode    `json:"devices,omitempty"`
}

// NewWorld returns an empty world.
func NewWorld() World {
	return World{
		Clients: map[string]Client{}, Tokens: map[string]AccessToken{}, Families: map[string]RefreshFamily{},
		Keys: map[string]SigningKey{}, Users: map[string]User{}, Codes: map[string]AuthCode{},
		Authorizations: map[string]Authorization{}, Devices: map[string]DeviceCode{},
	}
}

// Apply folds one event into the aggregate it belongs to, by the fold
// table (FoldTable).
func (w World) Apply(e Event, seq uint64, t time.Time) {
	f := FoldTable()
	f.Clients.into(w.Clients, e, seq, t)
	f.Tokens.into(w.Tokens, e, seq, t)
	f.Families.into(w.Families, e, seq, t)
	f.Keys.into(w.Keys, e, seq, t)
	f.Users.into(w.Users, e, seq, t)
	f.Codes.into(w.Codes, e, seq, t)
	f.Authorizations.into(w.Authorizations, e, seq, t)
	f.Devices.into(w.Devices, e, seq, t)
}

// FoldWorld folds every record whose event time is at or before at (all
// of them when at is zero) and returns the world then, with the history
// of every record (before and after at). Unknown event types are skipped;
// other decoding errors are returned.
func FoldWorld(recs []Recorded, at time.Time) (World, []AuditEntry, error) {
	w := NewWorld()
	history := make([]AuditEntry, 0, len(recs))
	for _, r := range recs {
		e, err := Decode(r.Envelope)
		if errors.Is(err, ErrUnknownEventType) {
			continue
		}
		if err != nil {
			return World{}, nil, fmt.Errorf("domain: event at %d: %w", r.Seq, err)
		}
		history = append(history, AuditEntry{Seq: r.Seq, Time: r.Envelope.Time, Type: r.Envelope.Type, Actor: r.Envelope.Actor, Data: r.Envelope.Data})
		if !at.IsZero() && r.Envelope.Time.After(at) {
			continue
		}
		w.Apply(e, r.Seq, r.Envelope.Time)
	}
	return w, history, nil
}

// TokenAudit is the answer about one access token.
type TokenAudit struct {
	TokenID string       `json:"token_id"`
	At      time.Time    `json:"at"`
	Token   AccessToken  `json:"token"`
	Valid   bool         `json:"valid"`
	Reasons []string     `json:"reasons,omitempty"`
	Revoked *AuditEntry  `json:"revoked_by,omitempty"`
	History []AuditEntry `json:"history"`
}

// AuditToken answers whether the access token jti validated at at, and
// why not, from recs: the token's events, its client's and its signing
// keys' (extra records are harmless). The history holds the token's own
// events and its client's.
func AuditToken(recs []Recorded, jti string, at time.Time) (TokenAudit, error) {
	w, history, err := FoldWorld(recs, at)
	if err != nil {
		return TokenAudit{}, err
	}
	a := TokenAudit{TokenID: jti, At: at, Token: w.Tokens[jti]}
	t := a.Token
	for i, h := range history {
		if h.Type == "AccessTokenRevoked" && (at.IsZero() || !h.Time.After(at)) && mentions(h, "token_id", jti) {
			a.Revoked = &history[i]
		}
	}
	switch {
	case t.ID == "":
		a.Reasons = append(a.Reasons, "the token was not issued by then")
	default:
		if t.Revoked {
			a.Reasons = append(a.Reasons, "revoked at "+t.RevokedAt.Format(time.RFC3339)+" ("+t.RevokeReason+")")
		}
		if !at.IsZero() && !at.Before(t.ExpiresAt) {
			a.Reasons = append(a.Reasons, "expired at "+t.ExpiresAt.Format(time.RFC3339))
		}
		if c := w.Clients[t.ClientID]; !c.Exists() {
			a.Reasons = append(a.Reasons, "its client "+t.ClientID+" was deleted")
		}
		if k, ok := w.Keys[t.KeyID]; !ok || !k.Verifies(at) {
			a.Reasons = append(a.Reasons, "its signing key "+t.KeyID+" no longer verified")
		}
	}
	a.Valid = len(a.Reasons) == 0
	a.History = filterHistory(history, func(h AuditEntry) bool {
		return mentions(h, "token_id", jti) || mentions(h, "access_token_id", jti)
	})
	return a, nil
}

// SubjectAudit is the answer about a client or a user: its history and
// the tokens and refresh families that belonged to it, as of a moment.
type SubjectAudit struct {
	Kind     string          `json:"kind"`
	ID       string          `json:"id"`
	At       time.Time       `json:"at"`
	Client   *Client         `json:"client,omitempty"`
	User     *User           `json:"user,omitempty"`
	Tokens   []AccessToken   `json:"tokens"`
	Families []RefreshFamily `json:"refresh_families"`
	History  []AuditEntry    `json:"history"`
}

// AuditSubject answers about the client (kind KindClient) or user
// (KindUser) id from recs, as of at.
func AuditSubject(recs []Recorded, kind, id string, at time.Time) (SubjectAudit, error) {
	w, history, err := FoldWorld(recs, at)
	if err != nil {
		return SubjectAudit{}, err
	}
	field := "client_id"
	if kind == KindUser {
		field = "user_id"
	}
	a := SubjectAudit{Kind: kind, ID: id, At: at, Tokens: []AccessToken{}, Families: []RefreshFamily{}}
	if c, ok := w.Clients[id]; ok && kind == KindClient {
		a.Client = &c
	}
	if u, ok := w.Users[id]; ok && kind == KindUser {
		a.User = &u
	}
	for _, t := range w.Tokens {
		if (kind == KindClient && t.ClientID == id) || (kind == KindUser && t.UserID == id) {
			a.Tokens = append(a.Tokens, t)
		}
	}
	for _, f := range w.Families {
		if (kind == KindClient && f.ClientID == id) || (kind == KindUser && f.UserID == id) {
			a.Families = append(a.Families, f)
		}
	}
	slices.SortFunc(a.Tokens, func(x, y AccessToken) int { return cmp.Compare(x.IssuedAt.UnixNano(), y.IssuedAt.UnixNano()) })
	slices.SortFunc(a.Families, func(x, y RefreshFamily) int { return cmp.Compare(x.CreatedAt.UnixNano(), y.CreatedAt.UnixNano()) })
	owned := map[string]bool{}
	for _, t := range a.Tokens {
		owned[t.ID] = true
	}
	a.History = filterHistory(history, func(h AuditEntry) bool {
		return mentions(h, field, id) || (h.Type == "AccessTokenRevoked" && owned[stringField(h, "token_id")]) || mentionsFamily(h, a.Families)
	})
	return a, nil
}

func mentionsFamily(h AuditEntry, fams []RefreshFamily) bool {
	f := stringField(h, "family_id")
	if f == "" {
		return false
	}
	for _, x := range fams {
		if x.ID == f {
			return true
		}
	}
	return false
}

func filterHistory(h []AuditEntry, keep func(AuditEntry) bool) []AuditEntry {
	out := []AuditEntry{}
	for _, e := range h {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func mentions(h AuditEntry, field, id string) bool { return stringField(h, field) == id }

func stringField(h AuditEntry, field string) string { return DataField(h.Data, field) }

// DataField reads one top-level string field of an event's data ("" when
// absent or not a string), for filters that work across event types:
// client_id, user_id, token_id, family_id.
func DataField(data json.RawMessage, field string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	var s string
	json.Unmarshal(m[field], &s)
	return s
}
