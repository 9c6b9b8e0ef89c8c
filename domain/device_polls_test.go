package domain

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errPollStore = errors.New("poll store down")

type failingPolls struct{}

func (failingPolls) SwapPoll(context.Context, string, time.Time) (time.Time, error) {
	return time.Time{}, errPollStore
}

// TestDevicePollsPort: two Services sharing one DevicePolls (two
// instances of a cluster) see each other's polls: a poll on B right after
// one on A is slow_down. A store that fails is an error, not an answer.
func TestDevicePollsPort(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	c, _ := h.client(t, RegisterClient{Name: "tv", Grants: []string{GrantDeviceCode}, Public: true})
	ports := h.svc.ports
	ports.DevicePolls = NewLocalDevicePolls()
	service := func(p Ports) *Service {
		s, err := NewService(h.svc.cfg, p, h.svc.Signer())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := service(ports), service(ports)
	da, err := a.DeviceAuthorize(ctx, ClientCredentials{ID: c.ID}, "read")
	if err != nil {
		t.Fatal(err)
	}
	poll := func(s *Service) error {
		_, err := s.Token(ctx, TokenRequest{GrantType: GrantDeviceCode, Client: ClientCredentials{ID: c.ID}, Form: map[string]string{"device_code": da.DeviceCode}})
		return err
	}
	if err := poll(a); !errors.Is(err, ErrAuthorizationPending) {
		t.Errorf("first poll, on A: got %v; want authorization_pending", err)
	}
	if err := poll(b); !errors.Is(err, ErrSlowDown) {
		t.Errorf("a poll at once on B: got %v; want slow_down", err)
	}
	h.clock.t = h.clock.t.Add(5 * time.Second)
	if err := poll(a); !errors.Is(err, ErrAuthorizationPending) {
		t.Errorf("on A after the interval: got %v; want authorization_pending", err)
	}
	ports.DevicePolls = failingPolls{}
	if err := poll(service(ports)); !errors.Is(err, errPollStore) {
		t.Errorf("a failing store: got %v; want its error", err)
	}
}
