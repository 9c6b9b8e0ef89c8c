package domain

import (
	"context"
	"testing"
)

func TestAnnounceSettings(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	if _, ok, err := LastServerSettings(ctx, h.log); ok || err != nil {
		t.Fatalf("before any announcement: %v, %v; want none", ok, err)
	}
	a := ServerConfigured{Issuer: "https://a.example", Scopes: []Scope{{"read", "Read"}}, Lifetimes: ServerLifetimes{AccessToken: 3600}}
	b := a
	b.Issuer = "https://b.example"
	for i, step := range []struct {
		settings ServerConfigured
		appended bool
	}{{a, true}, {a, false}, {b, true}, {a, true}, {a, false}} {
		got, err := h.svc.AnnounceSettings(ctx, Actor{Kind: ActorSystem}, step.settings)
		if err != nil || got != step.appended {
			t.Fatalf("step %d: appended %v, %v; want %v", i, got, err, step.appended)
		}
		last, ok, err := LastServerSettings(ctx, h.log)
		if err != nil || !ok || !last.Equal(step.settings) {
			t.Fatalf("step %d: last announced %+v, %v, %v; want %+v", i, last, ok, err, step.settings)
		}
	}
	if got := h.log.recs[len(h.log.recs)-1].Subject; got != "stamp.server.config.ServerConfigured" {
		t.Errorf("subject %q; want stamp.server.config.ServerConfigured", got)
	}
	empty := ServerConfigured{Scopes: []Scope{}, DefaultScopes: []string{}}
	if !empty.Equal(ServerConfigured{}) {
		t.Error("empty lists differ from nil ones; want equal")
	}
}
