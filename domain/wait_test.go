package domain

import (
	"context"
	"errors"
	"testing"
	"time"
)

// stalledWaiter never sees its sequence applied: read models that stopped.
type stalledWaiter struct{}

func (stalledWaiter) WaitFor(ctx context.Context, seq uint64) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestCommandAgainstStalledReadModelsAnswersUnavailable(t *testing.T) {
	h := newHarness(t, EdDSA)
	h.svc.ports.Wait = stalledWaiter{}
	h.svc.cfg.ProjectionWait = 50 * time.Millisecond

	_, _, err := h.svc.RegisterClient(context.Background(), Actor{Kind: ActorCLI}, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
	retry, ok := errors.AsType[*RetryError](err)
	if !ok || !errors.Is(err, ErrTemporarilyUnavailable) || retry.After <= 0 {
		t.Fatalf("RegisterClient with stalled read models = %v; want a RetryError wrapping ErrTemporarilyUnavailable", err)
	}

	// The caller's own end is the caller's error, not the server's.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = h.svc.RegisterClient(ctx, Actor{Kind: ActorCLI}, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTemporarilyUnavailable) {
		t.Fatalf("RegisterClient with a cancelled context = %v; want context.Canceled only", err)
	}
}

func TestConfigProjectionWait(t *testing.T) {
	c := Config{Issuer: "https://auth.example", Lifetimes: Lifetimes{AccessToken: time.Hour}}
	if err := c.Validate(); err != nil || c.ProjectionWait != DefaultProjectionWait {
		t.Fatalf("Validate() = %v, ProjectionWait %v; want nil, %v", err, c.ProjectionWait, DefaultProjectionWait)
	}
	c.ProjectionWait = -time.Second
	if err := c.Validate(); err == nil {
		t.Fatal("Validate() with a negative ProjectionWait = nil; want an error")
	}
}
