package domain

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// AnswerDevice records the user's approval or denial of the device
// authorization a user code names: it loads the code (loadUserCode) and
// the user's consent to its client, and records decideDeviceApproval.
func (s *Service) AnswerDevice(ctx context.Context, user User, userCode string, approve bool) error {
	state, err := s.loadUserCode(ctx, userCode)
	if err != nil {
		return err
	}
	p, err := decideUserCodeEntry(state, userCode, s.cfg.Now(), nil)
	if err != nil {
		return err
	}
	consent, cerr := s.ports.Grants.Authorization(ctx, user.ID, p.Client.ID)
	events := decideDeviceApproval(p, user, approve, consent, cerr == nil)
	_, err = s.record(ctx, ExpectSeq(p.Code.Seq), Actor{Kind: ActorUser, ID: user.ID}, events...)
	if errors.Is(err, ErrConflict) {
		return ErrInvalidGrant.WithDescription("the code was already used")
	}
	return err
}

// decideDeviceApproval decides the events of user's answer to the pending
// device authorization p (RFC 8628 §3.3): DeviceCodeDenied, or
// DeviceCodeApproved with ClientAuthorized widening the user's consent
// (consent, when found) to the code's scopes unless it covers them.
func decideDeviceApproval(p DevicePrompt, user User, approve bool, consent Authorization, found bool) []Event {
	if !approve {
		return []Event{DeviceCodeDenied{DeviceCodeID: p.Code.ID, ClientID: p.Client.ID, UserID: user.ID}}
	}
	events := []Event{DeviceCodeApproved{DeviceCodeID: p.Code.ID, ClientID: p.Client.ID, UserID: user.ID}}
	if e := widenConsent(user.ID, p.Client.ID, p.Code.Scopes, consent, found); e != nil {
		events = append(events, e)
	}
	return events
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
// came sooner than interval after the previous one (pollTooSoon), in the
// DevicePolls of the ports or else this process's.
func (s *Service) tooSoon(ctx context.Context, id string, now time.Time, interval time.Duration) (bool, error) {
	var polls DevicePolls = &s.polls
	if s.ports.DevicePolls != nil {
		polls = s.ports.DevicePolls
	}
	prev, err := polls.SwapPoll(ctx, id, now)
	if err != nil {
		return false, fmt.Errorf("domain: device polls: %w", err)
	}
	return pollTooSoon(prev, now, interval), nil
}

// pollTooSoon reports whether a poll at now, after one at prev (zero:
// none), comes sooner than interval (RFC 8628 §3.5 slow_down).
func pollTooSoon(prev, now time.Time, interval time.Duration) bool {
	return !prev.IsZero() && now.Sub(prev) < interval
}

// The device access token request (RFC 8628 §3.4, §3.5): the device polls
// with its device code; authorization_pending until the user decides,
// slow_down when it polls faster than the interval, access_denied,
// expired_token, and tokens once, for the approved code. A redemption
// that conflicts (another poll redeemed the code) is invalid_grant.

// errBadDeviceCode is the answer to a device code that is unknown,
// another client's or used.
var errBadDeviceCode = ErrInvalidGrant.WithDescription("the device code is invalid or used")

// deviceState is what the device code decision decides on: the
// authenticated client, the device code the presented one's hash found
// (Found), whether its user is gone, and the issuer's terms.
type deviceState struct {
	Client   Client
	Device   DeviceCode
	Found    bool
	UserGone bool
	Issuer   issuerTerms
}

// deviceCommand is a device access token request: the hash of the
// presented device code ("" when none was) and the resource parameter.
type deviceCommand struct {
	DeviceCodeHash string
	Resource       string
}

// deviceDecision is a token decision that may instead find the code
// pending: the answer then depends on how soon the device polled again
// (pollTooSoon), which the shell records and checks.
type deviceDecision struct {
	tokenDecision
	// Pending is set while the user has not decided; Interval is the
	// polling interval the device was told.
	Pending  bool
	Interval time.Duration
}

// checkDeviceRequest checks what a device token request is refused for
// before any code is looked up: a client without the grant
// (unauthorized_client), no device_code parameter (invalid_request).
func checkDeviceRequest(c Client, cmd deviceCommand) error {
	if !c.HasGrant(GrantDeviceCode) {
		return ErrUnauthorizedClient.WithDescription("the client may not use the device grant")
	}
	if cmd.DeviceCodeHash == "" {
		return ErrInvalidRequest.WithDescription("the device_code parameter is missing")
	}
	return nil
}

// decideDeviceCode decides a device access token request on the device
// code read. Errors: unauthorized_client, invalid_request; invalid_grant
// for an unknown, another client's or redeemed code or a deleted user;
// expired_token; access_denied; invalid_target. A pending code is a
// decision with Pending set. An approved one is redeemed for an access
// token, and a refresh family when the client has the refresh grant, in
// one append expecting the code as read.
func decideDeviceCode(st deviceState, cmd deviceCommand, now time.Time, rnd io.Reader) (deviceDecision, error) {
	c, d := st.Client, st.Device
	if err := checkDeviceRequest(c, cmd); err != nil {
		return deviceDecision{}, err
	}
	if !st.Found || d.ClientID != c.ID {
		return deviceDecision{}, errBadDeviceCode
	}
	if !now.Before(d.ExpiresAt) {
		return deviceDecision{}, ErrExpiredToken.WithDescription("the device code has expired")
	}
	switch d.Status {
	case DeviceDenied:
		return deviceDecision{}, ErrAccessDenied.WithDescription("the user denied the request")
	case DeviceRedeemed:
		return deviceDecision{}, errBadDeviceCode
	case DevicePending:
		return deviceDecision{Pending: true, Interval: time.Duration(d.Interval) * time.Second}, nil
	}
	if st.UserGone {
		return deviceDecision{}, errBadDeviceCode
	}
	resources, err := decideResources(c, cmd.Resource, nil)
	if err != nil {
		return deviceDecision{}, err
	}
	set, err := decideTokenSet(st.Issuer, accessTerms{Client: c, UserID: d.UserID, Grant: GrantDeviceCode, Scopes: d.Scopes, Resources: resources, TTL: st.Issuer.AccessToken}, c.HasGrant(GrantRefreshToken), now, rnd)
	if err != nil {
		return deviceDecision{}, err
	}
	redeemed := DeviceCodeRedeemed{DeviceCodeID: d.ID, ClientID: c.ID, UserID: d.UserID, AccessTokenID: set.Access.TokenID}
	if set.Refresh != nil {
		redeemed.FamilyID = set.Refresh.FamilyID
	}
	return deviceDecision{tokenDecision: tokenDecision{Events: append([]Event{redeemed}, set.events()...), Expect: ExpectSeq(d.Seq),
		Actor: actorFor(c.ID, d.UserID), Tokens: &set}}, nil
}

// deviceCode answers a device access token request of the authenticated
// client c: it loads the device code the presented one's hash names (from
// the read model, caught up if it does not know it) and its user,
// decides (decideDeviceCode) and issues. A pending code records the poll
// and answers slow_down or authorization_pending.
func (s *Service) deviceCode(ctx context.Context, call grantCall) (TokenResponse, error) {
	c, req, is, signer := call.Client, call.Req, call.Issuer, call.Signer
	cmd := deviceCommand{Resource: req.Form["resource"]}
	if raw := req.Form["device_code"]; raw != "" {
		cmd.DeviceCodeHash = HashSecret(raw)
	}
	if err := checkDeviceRequest(c, cmd); err != nil {
		return TokenResponse{}, err
	}
	st := deviceState{Client: c, Issuer: is}
	d, err := lookupFresh(ctx, s, func(ctx context.Context) (DeviceCode, error) {
		return s.ports.Grants.DeviceCodeByHash(ctx, cmd.DeviceCodeHash)
	})
	switch {
	case err == nil:
		st.Device, st.Found = d, true
		if d.ClientID == c.ID && d.Status == DeviceApproved {
			st.UserGone = s.userGone(ctx, d.UserID)
		}
	case !errors.Is(err, ErrNotFound):
		return TokenResponse{}, err
	}
	now := s.cfg.Now()
	dd, err := decideDeviceCode(st, cmd, now, s.cfg.Random)
	if err != nil {
		return TokenResponse{}, err
	}
	if dd.Pending {
		soon, err := s.tooSoon(ctx, d.ID, now, dd.Interval)
		if err != nil {
			return TokenResponse{}, err
		}
		if soon {
			return TokenResponse{}, ErrSlowDown.WithDescription("poll no more often than every %d seconds", d.Interval)
		}
		return TokenResponse{}, ErrAuthorizationPending.WithDescription("the user has not decided yet")
	}
	resp, err := s.issue(ctx, signer, dd.tokenDecision)
	if errors.Is(err, ErrConflict) {
		return TokenResponse{}, errBadDeviceCode
	}
	return resp, err
}
