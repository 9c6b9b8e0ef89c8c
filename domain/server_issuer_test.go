package domain

import (
	"context"
	"errors"
	"testing"
)

// TestChangeSettingsKeepsIssuer: with keepIssuer, another issuer than the
// announced one is refused, naming both, and appends nothing; other
// settings change; without it, the issuer changes too.
func TestChangeSettingsKeepsIssuer(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	sys := Actor{Kind: ActorSystem}
	a := ServerConfigured{Issuer: "https://auth.example", Scopes: []Scope{{"read", "Read"}}, Lifetimes: ServerLifetimes{AccessToken: 3600}}

	first, err := h.svc.ChangeSettings(ctx, sys, a, true)
	if err != nil || !first.Appended || first.HadPrevious {
		t.Fatalf("first announcement: %+v, %v; want appended, none before", first, err)
	}

	other := a
	other.Issuer = "https://other.example"
	n := len(h.log.recs)
	_, err = h.svc.ChangeSettings(ctx, sys, other, true)
	var mismatch *IssuerMismatchError
	if !errors.Is(err, ErrIssuerMismatch) || !errors.As(err, &mismatch) || mismatch.Announced != a.Issuer || mismatch.Here != other.Issuer {
		t.Fatalf("another issuer: %v; want an IssuerMismatchError naming %s and %s", err, a.Issuer, other.Issuer)
	}
	if len(h.log.recs) != n {
		t.Errorf("a refused issuer appended %d events; want none", len(h.log.recs)-n)
	}

	longer := a
	longer.Lifetimes.AccessToken = 7200
	got, err := h.svc.ChangeSettings(ctx, sys, longer, true)
	if err != nil || !got.Appended || !got.Previous.Equal(a) {
		t.Fatalf("another lifetime: %+v, %v; want appended after %+v", got, err, a)
	}
	same, err := h.svc.ChangeSettings(ctx, sys, longer, true)
	if err != nil || same.Appended || !same.HadPrevious {
		t.Fatalf("the same settings again: %+v, %v; want nothing appended", same, err)
	}

	other.Lifetimes = longer.Lifetimes
	re, err := h.svc.ChangeSettings(ctx, sys, other, false)
	if err != nil || !re.Appended || re.Previous.Issuer != a.Issuer {
		t.Fatalf("a deliberate change of issuer: %+v, %v; want appended", re, err)
	}
	last, _, err := LastServerSettings(ctx, h.log)
	if err != nil || last.Issuer != other.Issuer {
		t.Errorf("last announced issuer %q, %v; want %s", last.Issuer, err, other.Issuer)
	}
}

func TestDecideChangeSettings(t *testing.T) {
	a := ServerConfigured{Issuer: "https://auth.example", Lifetimes: ServerLifetimes{AccessToken: 3600}}
	longer := a
	longer.Lifetimes.AccessToken = 7200
	other := a
	other.Issuer = "https://other.example"
	announced := announcedSettings{Last: a, Found: true}
	tests := []struct {
		name  string
		state announcedSettings
		cmd   settingsChange
		want  error
		then  []Event
	}{
		{"first announcement", announcedSettings{}, settingsChange{Settings: a, KeepIssuer: true}, nil, []Event{a}},
		{"the same settings again: nothing", announced, settingsChange{Settings: a, KeepIssuer: true}, nil, nil},
		{"other settings, same issuer", announced, settingsChange{Settings: longer, KeepIssuer: true}, nil, []Event{longer}},
		{"another issuer is refused while kept", announced, settingsChange{Settings: other, KeepIssuer: true}, ErrIssuerMismatch, nil},
		{"a deliberate change of issuer", announced, settingsChange{Settings: other}, nil, []Event{other}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := decideChangeSettings(tt.state, tt.cmd, decisionNow(), nil)
			if !checkErr(t, err, tt.want) {
				var m *IssuerMismatchError
				if !errors.As(err, &m) || m.Announced != a.Issuer || m.Here != other.Issuer {
					t.Errorf("got %v; want a mismatch naming both issuers", err)
				}
				return
			}
			if len(events) != len(tt.then) || len(events) == 1 && !events[0].(ServerConfigured).Equal(tt.then[0].(ServerConfigured)) {
				t.Errorf("got %+v; want %+v", events, tt.then)
			}
		})
	}
}
