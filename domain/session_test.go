package domain

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

// EndedSession serves the ended sessions the log holds, as the read
// model does (without its purge).
func (m *memLog) EndedSession(_ context.Context, id string) (EndedSession, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var s EndedSession
	for _, r := range m.recs {
		e, err := Decode(r.Envelope)
		if err != nil {
			return EndedSession{}, err
		}
		if ended, ok := e.(SessionEnded); ok && ended.SessionID == id {
			s = ApplyEndedSession(s, e, r.Seq, r.Envelope.Time)
		}
	}
	if s.ID == "" {
		return EndedSession{}, ErrNotFound
	}
	return s, nil
}

func TestEndSession(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	expires := h.clock.t.Add(2 * time.Hour)

	if err := h.svc.CheckSession(ctx, "s-1"); err != nil {
		t.Fatalf("a live session: got %v; want nil", err)
	}
	if err := h.svc.EndSession(ctx, "s-1", u.ID, expires); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.CheckSession(ctx, "s-1"); !errors.Is(err, ErrSessionEnded) {
		t.Errorf("the ended session: got %v; want ErrSessionEnded", err)
	}
	if err := h.svc.CheckSession(ctx, "s-2"); err != nil {
		t.Errorf("another session of the user: got %v; want nil", err)
	}
	before := len(h.log.recs)
	if err := h.svc.EndSession(ctx, "s-1", u.ID, expires); err != nil {
		t.Fatal(err)
	}
	if got := len(h.log.recs); got != before {
		t.Errorf("ending a session twice appended %d events; want none", got-before)
	}
	last := h.log.recs[len(h.log.recs)-1]
	if last.Subject != "stamp.user."+u.ID+".SessionEnded" || last.Envelope.Actor != (Actor{Kind: ActorUser, ID: u.ID}) {
		t.Errorf("recorded on %s by %+v; want the user's subject, by the user", last.Subject, last.Envelope.Actor)
	}

	// A session already expired needs no end.
	before = len(h.log.recs)
	if err := h.svc.EndSession(ctx, "s-old", u.ID, h.clock.t); err != nil || len(h.log.recs) != before {
		t.Errorf("ending an expired session: %v, %d events; want nil and none", err, len(h.log.recs)-before)
	}
	for _, bad := range [][2]string{{"", u.ID}, {"a b", u.ID}, {"s-3", ""}} {
		if _, ok := AsValidation(h.svc.EndSession(ctx, bad[0], bad[1], expires)); !ok {
			t.Errorf("EndSession(%q, %q): want a validation error", bad[0], bad[1])
		}
	}

	// The user's aggregate moved on: its commands, which expect its last
	// event, still go through, and the logout changed nothing of the user.
	got, err := h.svc.ports.Users.User(ctx, u.ID)
	if err != nil || !got.UpdatedAt.Equal(u.UpdatedAt) {
		t.Errorf("after the logout: %+v, %v; want UpdatedAt unchanged", got, err)
	}
	if err := h.svc.ChangePassword(ctx, Actor{Kind: ActorCLI}, u.ID, "another horse"); err != nil {
		t.Errorf("change password after a logout: %v", err)
	}
	if err := h.svc.EndSession(ctx, "s-4", u.ID, expires); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteUser(ctx, Actor{Kind: ActorCLI}, u.ID); err != nil {
		t.Errorf("delete a user after a logout: %v", err)
	}
}

func TestDecideEndSession(t *testing.T) {
	later := decisionNow().Add(time.Hour)
	tests := []struct {
		name string
		cmd  endSession
		want error
		then []Event
	}{
		{"bad session id", endSession{SessionID: "a b", UserID: "u1", ExpiresAt: later}, invalidField("session_id"), nil},
		{"bad user id", endSession{SessionID: "s1", UserID: "", ExpiresAt: later}, invalidField("user_id"), nil},
		{"an expired session needs no end", endSession{SessionID: "s1", UserID: "u1", ExpiresAt: decisionNow()}, nil, nil},
		{"a live session ends until its expiry", endSession{SessionID: "s1", UserID: "u1", ExpiresAt: later}, nil,
			[]Event{SessionEnded{SessionID: "s1", UserID: "u1", ExpiresAt: later}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := decideEndSession(noState{}, tt.cmd, decisionNow(), nil)
			if checkErr(t, err, tt.want) && !reflect.DeepEqual(events, tt.then) {
				t.Errorf("got %+v; want %+v", events, tt.then)
			}
		})
	}
}
