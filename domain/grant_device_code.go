package domain

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DeviceAuthorization is the RFC 8628 §3.2 answer to a device.
type DeviceAuthorization struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int64  `json:"expires_in"`
	Interval                int64  `json:"interval"`
}

// FormatUserCode shows a user code as XXXX-XXXX.
func FormatUserCode(code string) string {
	if len(code) != 8 {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// DeviceAuthorize starts the device authorization grant (RFC 8628 §3.1):
// an authenticated client (a public one by its id) allowed the device
// grant gets a device code to poll with and a user code to show.
func (s *Service) DeviceAuthorize(ctx context.Context, cred ClientCredentials, scope string) (DeviceAuthorization, error) {
	c, err := s.AuthenticateClient(ctx, cred)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	if !c.HasGrant(GrantDeviceCode) {
		return DeviceAuthorization{}, ErrUnauthorizedClient.WithDescription("the client may not use the device authorization grant")
	}
	scopes, err := s.cfg.Scopes.Resolve(ParseScope(scope), false, c.Scopes)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	device, err := NewSecret(s.cfg.Random)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	user, err := NewUserCode(s.cfg.Random)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	id, err := NewID(s.cfg.Random)
	if err != nil {
		return DeviceAuthorization{}, err
	}
	now := s.cfg.Now().UTC()
	interval := int64(s.cfg.DeviceInterval / time.Second)
	e := DeviceCodeIssued{DeviceCodeID: id, DeviceCodeHash: HashSecret(device), UserCodeHash: HashSecret(user), ClientID: c.ID,
		Scopes: scopes, Interval: int(interval), IssuedAt: now, ExpiresAt: now.Add(s.cfg.DeviceCode)}
	if _, err := s.record(ctx, ExpectNew, Actor{Kind: ActorClient, ID: c.ID}, e); err != nil {
		return DeviceAuthorization{}, err
	}
	verify := s.cfg.Issuer + "/oauth/device"
	return DeviceAuthorization{
		DeviceCode: device, UserCode: FormatUserCode(user), VerificationURI: verify,
		VerificationURIComplete: verify + "?user_code=" + FormatUserCode(user),
		ExpiresIn:               int64(s.cfg.DeviceCode / time.Second), Interval: interval,
	}, nil
}

// DevicePrompt is what the user-code page shows before approval.
type DevicePrompt struct {
	Code   DeviceCode
	Client Client
	Scopes []Scope
}

// lookupUserCode finds the pending device authorization a typed user code
// names. Errors: ErrInvalidGrant for an unknown, used or expired code.
func (s *Service) lookupUserCode(ctx context.Context, userCode string) (DevicePrompt, error) {
	bad := ErrInvalidGrant.WithDescription("the code is unknown, used or expired")
	norm := NormalizeUserCode(userCode)
	if len(norm) != 8 {
		return DevicePrompt{}, bad
	}
	d, err := lookupFresh(ctx, s, func(ctx context.Context) (DeviceCode, error) {
		return s.ports.Grants.DeviceCodeByUserCodeHash(ctx, HashSecret(norm))
	})
	if errors.Is(err, ErrNotFound) {
		return DevicePrompt{}, bad
	}
	if err != nil {
		return DevicePrompt{}, err
	}
	if d.Status != DevicePending || !s.cfg.Now().Before(d.ExpiresAt) {
		return DevicePrompt{}, bad
	}
	c, err := s.ports.Clients.Client(ctx, d.ClientID)
	if err != nil || !c.Exists() {
		return DevicePrompt{}, bad
	}
	p := DevicePrompt{Code: d, Client: c}
	for _, id := range d.Scopes {
		desc, _ := s.cfg.Scopes.Describe(id)
		p.Scopes = append(p.Scopes, desc)
	}
	return p, nil
}

// DecideDevice records the user's approval or denial of the device
// authorization a user code names.
func (s *Service) DecideDevice(ctx context.Context, user User, userCode string, approve bool) error {
	p, err := s.lookupUserCode(ctx, userCode)
	if err != nil {
		return err
	}
	var e Event = DeviceCodeDenied{DeviceCodeID: p.Code.ID, ClientID: p.Client.ID, UserID: user.ID}
	events := []Event{e}
	if approve {
		events = []Event{DeviceCodeApproved{DeviceCodeID: p.Code.ID, ClientID: p.Client.ID, UserID: user.ID}}
		if consent := s.consentEvent(ctx, user.ID, p.Client.ID, p.Code.Scopes); consent != nil {
			events = append(events, consent)
		}
	}
	_, err = s.record(ctx, ExpectSeq(p.Code.Seq), Actor{Kind: ActorUser, ID: user.ID}, events...)
	if errors.Is(err, ErrConflict) {
		return ErrInvalidGrant.WithDescription("the code was already used")
	}
	return err
}

// pollClock is DevicePolls in this process's memory (see
// NewLocalDevicePolls). Entries older than an hour are dropped.
type pollClock struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// NewLocalDevicePolls returns DevicePolls kept in this process's memory:
// on several instances a device may poll each at the interval. It is what
// a Service uses when Ports.DevicePolls is nil, and a cluster-wide store's
// fallback.
func NewLocalDevicePolls() DevicePolls { return &pollClock{} }

// SwapPoll records a poll of id at now and returns the previous one.
func (p *pollClock) SwapPoll(_ context.Context, id string, now time.Time) (time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[string]time.Time{}
	}
	prev := p.last[id]
	p.last[id] = now
	if len(p.last) > 10000 {
		for k, t := range p.last {
			if now.Sub(t) > time.Hour {
				delete(p.last, k)
			}
		}
	}
	return prev, nil
}

// tooSoon records a poll of device code id at now and reports whether it
// came sooner than interval after the previous one, in the DevicePolls
// of the ports or else this process's.
func (s *Service) tooSoon(ctx context.Context, id string, now time.Time, interval time.Duration) (bool, error) {
	var polls DevicePolls = &s.polls
	if s.ports.DevicePolls != nil {
		polls = s.ports.DevicePolls
	}
	prev, err := polls.SwapPoll(ctx, id, now)
	if err != nil {
		return false, fmt.Errorf("domain: device polls: %w", err)
	}
	return !prev.IsZero() && now.Sub(prev) < interval, nil
}

// deviceCode implements the device access token request (RFC 8628 §3.4,
// §3.5): authorization_pending until the user decides, slow_down when the
// device polls faster than the interval, access_denied, expired_token, and
// tokens once, for the approved code.
func (s *Service) deviceCode(ctx context.Context, req TokenRequest) (TokenResponse, error) {
	c, err := s.AuthenticateClient(ctx, req.Client)
	if err != nil {
		return TokenResponse{}, err
	}
	if !c.HasGrant(GrantDeviceCode) {
		return TokenResponse{}, ErrUnauthorizedClient.WithDescription("the client may not use the device grant")
	}
	raw := req.Form["device_code"]
	if raw == "" {
		return TokenResponse{}, ErrInvalidRequest.WithDescription("the device_code parameter is missing")
	}
	bad := ErrInvalidGrant.WithDescription("the device code is invalid or used")
	d, err := lookupFresh(ctx, s, func(ctx context.Context) (DeviceCode, error) {
		return s.ports.Grants.DeviceCodeByHash(ctx, HashSecret(raw))
	})
	if errors.Is(err, ErrNotFound) {
		return TokenResponse{}, bad
	}
	if err != nil {
		return TokenResponse{}, err
	}
	if d.ClientID != c.ID {
		return TokenResponse{}, bad
	}
	now := s.cfg.Now()
	if !now.Before(d.ExpiresAt) {
		return TokenResponse{}, ErrExpiredToken.WithDescription("the device code has expired")
	}
	switch d.Status {
	case DeviceDenied:
		return TokenResponse{}, ErrAccessDenied.WithDescription("the user denied the request")
	case DeviceRedeemed:
		return TokenResponse{}, bad
	case DevicePending:
		soon, err := s.tooSoon(ctx, d.ID, now, time.Duration(d.Interval)*time.Second)
		if err != nil {
			return TokenResponse{}, err
		}
		if soon {
			return TokenResponse{}, ErrSlowDown.WithDescription("poll no more often than every %d seconds", d.Interval)
		}
		return TokenResponse{}, ErrAuthorizationPending.WithDescription("the user has not decided yet")
	}
	if s.userGone(ctx, d.UserID) {
		return TokenResponse{}, bad
	}
	resources, err := decideResources(c, req.Form["resource"], nil)
	if err != nil {
		return TokenResponse{}, err
	}
	resp, events, err := s.tokenSetFor(c, d.UserID, GrantDeviceCode, d.Scopes, resources, s.cfg.AccessToken, c.HasGrant(GrantRefreshToken))
	if err != nil {
		return TokenResponse{}, err
	}
	redeemed := DeviceCodeRedeemed{DeviceCodeID: d.ID, ClientID: c.ID, UserID: d.UserID, AccessTokenID: events[0].(AccessTokenCreated).TokenID}
	if len(events) > 1 {
		redeemed.FamilyID = events[1].(RefreshTokenCreated).FamilyID
	}
	_, err = s.record(ctx, ExpectSeq(d.Seq), actorFor(c.ID, d.UserID), append([]Event{redeemed}, events...)...)
	if errors.Is(err, ErrConflict) {
		return TokenResponse{}, bad
	}
	if err != nil {
		return TokenResponse{}, err
	}
	return resp, nil
}
