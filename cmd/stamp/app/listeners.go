package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/listeners"
	"github.com/stamp-oauth/stamp/projections"
)

// ListenersConfig enables and configures the listeners a server runs.
// Each is a durable JetStream consumer: several instances share its
// messages, and a newly enabled one reacts to events from then on.
type ListenersConfig struct {
	// MaxAttempts is how often an event is tried before it is parked.
	MaxAttempts int `json:"max_attempts"`
	// RevokeOldTokens revokes a user's older access tokens for a client
	// when it gets a new one (Passport's documented example).
	RevokeOldTokens bool `json:"revoke_old_tokens"`
	// PruneOldTokens keeps this many live refresh token families per user
	// and client and revokes the older ones; 0 is off.
	PruneOldTokens int `json:"prune_old_tokens"`
	// Webhooks post matching events to URLs, signed with HMAC-SHA256.
	Webhooks []WebhookConfig `json:"webhooks"`
}

// WebhookConfig is one webhook. Name must never change once in use: it
// names the durable consumer ("webhook-" + Name).
type WebhookConfig struct {
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	Secret string   `json:"secret"`
	Types  []string `json:"types"`
}

func parseListeners(v string) (ListenersConfig, error) {
	var lc ListenersConfig
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&lc); err != nil {
		return lc, fmt.Errorf("want JSON such as {\"revoke_old_tokens\":true}: %v", err)
	}
	return lc, nil
}

// validate checks the listener settings without building them.
func (lc ListenersConfig) validate() error {
	if lc.MaxAttempts < 0 || lc.PruneOldTokens < 0 {
		return fmt.Errorf("max_attempts and prune_old_tokens must not be negative")
	}
	_, err := lc.webhooks()
	return err
}

func (lc ListenersConfig) webhooks() ([]listeners.Listener, error) {
	var out []listeners.Listener
	for _, w := range lc.Webhooks {
		hook, err := listeners.NewWebhook(listeners.WebhookOptions{Name: w.Name, URL: w.URL, Secret: []byte(w.Secret), Types: w.Types})
		if err != nil {
			return nil, err
		}
		out = append(out, hook)
	}
	return out, nil
}

// build returns the enabled listeners, wired to the node's parts.
func (lc ListenersConfig) build(svc *domain.Service, views *projections.Store, wait listeners.Waiter) ([]listeners.Listener, error) {
	out, err := lc.webhooks()
	if err != nil {
		return nil, err
	}
	if lc.RevokeOldTokens {
		out = append(out, listeners.NewRevokeOldTokens(wait, views, svc))
	}
	if lc.PruneOldTokens > 0 {
		p, err := listeners.NewPruneOldTokens(lc.PruneOldTokens, wait, views, svc)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// deliverySource adapts the eventstore's durable consumers to the
// listeners' Source port: the two Delivery interfaces have the same
// methods, declared by each package for itself.
type deliverySource struct{ store *eventstore.Store }

func (s deliverySource) Deliver(ctx context.Context, durable, filter string, fn func(context.Context, listeners.Delivery)) error {
	return s.store.Deliver(ctx, durable, filter, func(ctx context.Context, d eventstore.Delivery) { fn(ctx, d) })
}

// runListeners runs the configured listeners until ctx ends.
func runListeners(ctx context.Context, lc ListenersConfig, store *eventstore.Store, svc *domain.Service, views *projections.Store, wait listeners.Waiter, logger *slog.Logger) error {
	ls, err := lc.build(svc, views, wait)
	if err != nil || len(ls) == 0 {
		return err
	}
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Name()
	}
	ls = append(ls, listeners.NewRetrier(parkedEvents{store}, logger, ls...))
	logger.Info("listeners running", "names", strings.Join(names, ","))
	r := listeners.NewRunner(deliverySource{store}, listeners.RunnerOptions{MaxAttempts: lc.MaxAttempts, Logger: logger, MaxBackoff: 30 * time.Second})
	return r.Run(ctx, ls...)
}

// parkedEvents adapts the eventstore's parked stream to the listeners'
// ParkedEvents port.
type parkedEvents struct{ store *eventstore.Store }

func (p parkedEvents) ParkedRecords(ctx context.Context, listener string) ([]domain.Recorded, error) {
	parked, err := p.store.Parked(ctx, listener)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Recorded, len(parked))
	for i, e := range parked {
		if out[i], err = p.original(ctx, e); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// errFound stops a replay at the event it looked for.
var errFound = errors.New("found")

// original reads the parked event e from the stream itself, where the log
// signature is checked, rather than trusting the parked copy: an event
// parked for a bad signature stays refused (Recorded.Refused).
func (p parkedEvents) original(ctx context.Context, e eventstore.Parked) (domain.Recorded, error) {
	rec := domain.Recorded{Seq: e.Seq, Subject: e.Subject, Refused: "not in the stream any more"}
	if e.Seq == 0 || !strings.HasPrefix(e.Subject, domain.SubjectRoot+".") {
		rec.Refused = "not an event of the stream"
		return rec, nil
	}
	err := p.store.Replay(ctx, e.Seq, e.Subject, func(r domain.Recorded) error {
		if r.Seq != e.Seq {
			return errFound // past it: the stream lost it
		}
		rec = r
		return errFound
	})
	if err != nil && !errors.Is(err, errFound) {
		return rec, err
	}
	return rec, nil
}

func (p parkedEvents) ClearParked(ctx context.Context, listener string, seq uint64) error {
	return p.store.ClearParked(ctx, listener, seq)
}
