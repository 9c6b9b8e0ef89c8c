package domain

import (
	"testing"
	"time"
)

// TestFoldTableTargets holds the table to which events change which
// state: an event changes the state of its aggregate's kind, named by its
// aggregate id, and a SessionEnded also the session it names, if that is
// an id stamp can have issued.
func TestFoldTableTargets(t *testing.T) {
	f := FoldTable()
	targets := map[string]func(Event) (string, bool){
		"clients": f.Clients.Target, "tokens": f.Tokens.Target, "families": f.Families.Target,
		"keys": f.Keys.Target, "users": f.Users.Target, "codes": f.Codes.Target,
		"authorizations": f.Authorizations.Target, "devices": f.Devices.Target,
		"ended sessions": f.EndedSessions.Target,
	}
	for _, tc := range []struct {
		e    Event
		want map[string]string // table entry -> id of the state changed
	}{
		{ClientRegistered{ClientID: "c1"}, map[string]string{"clients": "c1"}},
		{AccessTokenCreated{TokenID: "t1"}, map[string]string{"tokens": "t1"}},
		{RefreshTokenCreated{FamilyID: "f1"}, map[string]string{"families": "f1"}},
		{SigningKeyGenerated{KeyID: "k1"}, map[string]string{"keys": "k1"}},
		{UserDeleted{UserID: "u1"}, map[string]string{"users": "u1"}},
		{AuthCodeIssued{CodeID: "a1"}, map[string]string{"codes": "a1"}},
		{ClientAuthorized{UserID: "u1", ClientID: "c1"}, map[string]string{"authorizations": AuthorizationID("u1", "c1")}},
		{DeviceCodeIssued{DeviceCodeID: "d1"}, map[string]string{"devices": "d1"}},
		{SessionEnded{SessionID: "s1", UserID: "u1"}, map[string]string{"users": "u1", "ended sessions": "s1"}},
		{SessionEnded{SessionID: "not/valid", UserID: "u1"}, map[string]string{"users": "u1"}},
		{TokensPurged{PurgeID: "p1"}, map[string]string{}},
	} {
		got := map[string]string{}
		for name, target := range targets {
			if id, ok := target(tc.e); ok {
				got[name] = id
			}
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s changes %v; want %v", tc.e.EventType(), got, tc.want)
			continue
		}
		for name, id := range tc.want {
			if got[name] != id {
				t.Errorf("%s changes %v; want %v", tc.e.EventType(), got, tc.want)
			}
		}
	}
}

// TestFoldTableIdent holds each fold's Ident to the state it folds: the
// sequence of its last event and its id, none before its creating event.
func TestFoldTableIdent(t *testing.T) {
	f := FoldTable()
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if seq, id := f.Authorizations.Ident(Authorization{}); seq != 0 || id != "" {
		t.Errorf("Ident(no consent) = %d, %q; want 0, \"\"", seq, id)
	}
	a := f.Authorizations.Apply(Authorization{}, ClientAuthorized{UserID: "u1", ClientID: "c1", Scopes: []string{"read"}}, 7, at)
	if seq, id := f.Authorizations.Ident(a); seq != 7 || id != AuthorizationID("u1", "c1") {
		t.Errorf("Ident(consent) = %d, %q; want 7, %q", seq, id, AuthorizationID("u1", "c1"))
	}
	s := f.EndedSessions.Apply(EndedSession{}, SessionEnded{SessionID: "s1", UserID: "u1", ExpiresAt: at}, 9, at)
	if seq, id := f.EndedSessions.Ident(s); seq != 9 || id != "s1" {
		t.Errorf("Ident(ended session) = %d, %q; want 9, s1", seq, id)
	}
	if again := f.EndedSessions.Apply(s, SessionEnded{SessionID: "s1", UserID: "u1"}, 10, at); again.Seq != 9 {
		t.Errorf("ending s1 again moved it to seq %d; want it kept at 9", again.Seq)
	}
}
