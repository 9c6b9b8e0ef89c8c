package domain

import (
	"context"
	"fmt"
	"sync"
)

// memLog is a hand-written in-memory event log with the EventLog contract
// (expected sequences per aggregate, message-id dedupe) that also folds
// every append into in-memory views at once, as the real runner would.
type memLog struct {
	mu      sync.Mutex
	recs    []Recorded
	ids     map[string]uint64
	clients map[string]Client
	tokens  map[string]AccessToken
	keys    map[string]SigningKey
	// beforeAppend, when set, runs inside Append before the check: tests
	// use it to slip in a concurrent change.
	beforeAppend func()
}

func newMemLog() *memLog {
	return &memLog{ids: map[string]uint64{}, clients: map[string]Client{}, tokens: map[string]AccessToken{}, keys: map[string]SigningKey{}}
}

func (m *memLog) Append(ctx context.Context, agg Aggregate, expect Expect, envs ...Envelope) (uint64, error) {
	if hook := m.beforeAppend; hook != nil {
		m.beforeAppend = nil
		hook()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(envs) == 0 {
		return 0, fmt.Errorf("no events")
	}
	if seq, dup := m.ids[envs[0].ID]; dup {
		return seq, nil
	}
	if want, ok := expect.Check(); ok && m.lastLocked(agg) != want {
		return 0, fmt.Errorf("append %s: %w", agg, ErrConflict)
	}
	for _, env := range envs {
		r := Recorded{Seq: uint64(len(m.recs) + 1), Subject: agg.Subject(env.Type), Envelope: env}
		m.recs = append(m.recs, r)
		m.ids[env.ID] = r.Seq
		e, err := Decode(env)
		if err != nil {
			return 0, err
		}
		switch agg.Kind {
		case KindClient:
			m.clients[agg.ID] = ApplyClient(m.clients[agg.ID], e, r.Seq, env.Time)
		case KindToken:
			m.tokens[agg.ID] = ApplyAccessToken(m.tokens[agg.ID], e, r.Seq, env.Time)
		case KindKey:
			m.keys[agg.ID] = ApplySigningKey(m.keys[agg.ID], e, r.Seq, env.Time)
		}
	}
	return uint64(len(m.recs)), nil
}

func (m *memLog) lastLocked(agg Aggregate) uint64 {
	var last uint64
	for _, r := range m.recs {
		if a, _, _ := ParseSubject(r.Subject); a == agg {
			last = r.Seq
		}
	}
	return last
}

func (m *memLog) Load(ctx context.Context, agg Aggregate) ([]Recorded, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Recorded
	for _, r := range m.recs {
		if a, _, _ := ParseSubject(r.Subject); a == agg {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memLog) WaitFor(ctx context.Context, seq uint64) error { return nil }

func (m *memLog) Client(ctx context.Context, id string) (Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[id]
	if !ok {
		return Client{}, ErrNotFound
	}
	return c, nil
}

func (m *memLog) AccessToken(ctx context.Context, id string) (AccessToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tokens[id]
	if !ok {
		return AccessToken{}, ErrNotFound
	}
	return t, nil
}

func (m *memLog) SigningKeys(ctx context.Context) ([]SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []SigningKey
	for _, k := range m.keys {
		out = append(out, k)
	}
	return out, nil
}

// events returns the decoded events of the log, in order.
func (m *memLog) events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for _, r := range m.recs {
		e, _ := Decode(r.Envelope)
		out = append(out, e)
	}
	return out
}
