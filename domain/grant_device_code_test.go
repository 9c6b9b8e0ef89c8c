package domain

import (
	"context"
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDecideDeviceCode: RFC 8628 §3.4 and §3.5 as a table: given the
// device code as read, when the device polls, then the redemption with its
// tokens, pending, or the error.
func TestDecideDeviceCode(t *testing.T) {
	const api = "https://api.example"
	tv := Client{ID: "tv", Grants: []string{GrantDeviceCode, GrantRefreshToken}, Audiences: []string{api}}
	tvNoRefresh := Client{ID: "tv", Grants: []string{GrantDeviceCode}}
	other := Client{ID: "other", Grants: []string{GrantDeviceCode}}
	web := Client{ID: "tv", SecretHash: "h", Grants: []string{GrantAuthorizationCode}}
	issued := decisionNow().Add(-time.Minute)
	device := func(status string) DeviceCode {
		d := DeviceCode{ID: "d1", DeviceCodeHash: HashSecret("the-device-code"), ClientID: "tv", Scopes: []string{"read"}, Interval: 5,
			IssuedAt: issued, ExpiresAt: issued.Add(10 * time.Minute), Status: status, Seq: 4}
		if status != DevicePending && status != DeviceDenied {
			d.UserID = "u1"
		}
		return d
	}
	poll := deviceCommand{DeviceCodeHash: HashSecret("the-device-code")}
	tests := []struct {
		name    string
		st      deviceState
		cmd     deviceCommand
		now     time.Time
		wantErr error
		want    []string
		pending bool
	}{
		{"§3.5: an approved code is redeemed for tokens", deviceState{Client: tv, Device: device(DeviceApproved), Found: true}, poll, time.Time{}, nil, []string{"DeviceCodeRedeemed", "AccessTokenCreated", "RefreshTokenCreated"}, false},
		{"no refresh token for a client without the refresh grant", deviceState{Client: tvNoRefresh, Device: device(DeviceApproved), Found: true}, poll, time.Time{}, nil, []string{"DeviceCodeRedeemed", "AccessTokenCreated"}, false},
		{"§3.5: authorization_pending until the user decides", deviceState{Client: tv, Device: device(DevicePending), Found: true}, poll, time.Time{}, nil, nil, true},
		{"§3.5: access_denied", deviceState{Client: tv, Device: device(DeviceDenied), Found: true}, poll, time.Time{}, ErrAccessDenied, nil, false},
		{"§3.5: expired_token", deviceState{Client: tv, Device: device(DevicePending), Found: true}, poll, issued.Add(10 * time.Minute), ErrExpiredToken, nil, false},
		{"§3.5: an approved code expires too", deviceState{Client: tv, Device: device(DeviceApproved), Found: true}, poll, issued.Add(time.Hour), ErrExpiredToken, nil, false},
		{"§3.5: tokens once: a redeemed code", deviceState{Client: tv, Device: device(DeviceRedeemed), Found: true}, poll, time.Time{}, ErrInvalidGrant, nil, false},
		{"§3.4: another client's code", deviceState{Client: other, Device: device(DeviceApproved), Found: true}, poll, time.Time{}, ErrInvalidGrant, nil, false},
		{"an unknown code", deviceState{Client: tv}, poll, time.Time{}, ErrInvalidGrant, nil, false},
		{"a deleted user's approval", deviceState{Client: tv, Device: device(DeviceApproved), Found: true, UserGone: true}, poll, time.Time{}, ErrInvalidGrant, nil, false},
		{"§3.4: no device_code parameter", deviceState{Client: tv}, deviceCommand{}, time.Time{}, ErrInvalidRequest, nil, false},
		{"§5.2: a client without the grant", deviceState{Client: web, Device: device(DeviceApproved), Found: true}, poll, time.Time{}, ErrUnauthorizedClient, nil, false},
		{"RFC 8707: an unregistered resource", deviceState{Client: tv, Device: device(DeviceApproved), Found: true}, deviceCommand{DeviceCodeHash: poll.DeviceCodeHash, Resource: "https://other.example"}, time.Time{}, ErrInvalidTarget, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			st.Issuer = testIssuer()
			now := tt.now
			if now.IsZero() {
				now = decisionNow()
			}
			d, err := decideDeviceCode(st, tt.cmd, now, rand.Reader)
			if d.Pending != tt.pending {
				t.Fatalf("pending: got %t; want %t", d.Pending, tt.pending)
			}
			if tt.pending {
				if err != nil || d.Interval != 5*time.Second || len(d.Events) > 0 || d.Tokens != nil {
					t.Errorf("got %+v, %v; want pending at the code's 5s interval, nothing decided", d, err)
				}
				return
			}
			checkOutcome(t, d.tokenDecision, err, tt.wantErr, tt.want)
			if err != nil {
				return
			}
			redeemed := d.Events[0].(DeviceCodeRedeemed)
			if redeemed.AccessTokenID != d.Tokens.Access.TokenID || d.Tokens.Claims.Subject != "u1" || d.Expect != ExpectSeq(4) || d.Actor != (Actor{Kind: ActorUser, ID: "u1"}) {
				t.Errorf("redeemed %+v, recorded with %+v as %+v; want the approving user's tokens, expecting the code as read", redeemed, d.Expect, d.Actor)
			}
			if rc := d.Tokens.Refresh; rc != nil && redeemed.FamilyID != rc.FamilyID {
				t.Errorf("the redemption names family %q; want %q", redeemed.FamilyID, rc.FamilyID)
			}
		})
	}
}

// TestPollTooSoon: RFC 8628 §3.5 slow_down, for a poll sooner than the
// interval after the previous one.
func TestPollTooSoon(t *testing.T) {
	now := decisionNow()
	for _, tt := range []struct {
		name string
		prev time.Time
		want bool
	}{
		{"the first poll", time.Time{}, false},
		{"sooner than the interval", now.Add(-4 * time.Second), true},
		{"at the interval", now.Add(-5 * time.Second), false},
		{"later", now.Add(-time.Minute), false},
	} {
		if got := pollTooSoon(tt.prev, now, 5*time.Second); got != tt.want {
			t.Errorf("%s: got %t; want %t", tt.name, got, tt.want)
		}
	}
}

func TestDeviceGrant(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	c, _ := h.client(t, RegisterClient{Name: "tv", Grants: []string{GrantDeviceCode, GrantRefreshToken}, Public: true})
	da, err := h.svc.DeviceAuthorize(ctx, ClientCredentials{ID: c.ID}, "read")
	if err != nil || len(da.UserCode) != 9 || da.Interval != 5 || !strings.HasSuffix(da.VerificationURI, "/oauth/device") {
		t.Fatalf("device authorization: got %+v, %v", da, err)
	}
	poll := func() error {
		_, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantDeviceCode, Client: ClientCredentials{ID: c.ID}, Form: map[string]string{"device_code": da.DeviceCode}})
		return err
	}
	if err := poll(); !errors.Is(err, ErrAuthorizationPending) {
		t.Errorf("first poll: got %v; want authorization_pending", err)
	}
	if err := poll(); !errors.Is(err, ErrSlowDown) {
		t.Errorf("an immediate second poll: got %v; want slow_down", err)
	}
	if _, err := h.svc.LookupUserCode(ctx, u, "ZZZZ-ZZZZ", "192.0.2.1"); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("unknown user code: got %v", err)
	}
	if err := h.svc.AnswerDevice(ctx, u, strings.ToLower(da.UserCode), true); err != nil {
		t.Fatal(err)
	}
	h.clock.t = h.clock.t.Add(6 * time.Second)
	tok, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantDeviceCode, Client: ClientCredentials{ID: c.ID}, Form: map[string]string{"device_code": da.DeviceCode}})
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("after approval: got %+v, %v", tok, err)
	}
	if err := poll(); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("a second redemption: got %v; want invalid_grant", err)
	}

	denied, _ := h.svc.DeviceAuthorize(ctx, ClientCredentials{ID: c.ID}, "")
	if err := h.svc.AnswerDevice(ctx, u, denied.UserCode, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantDeviceCode, Client: ClientCredentials{ID: c.ID}, Form: map[string]string{"device_code": denied.DeviceCode}}); !errors.Is(err, ErrAccessDenied) {
		t.Errorf("denied: got %v; want access_denied", err)
	}
	late, _ := h.svc.DeviceAuthorize(ctx, ClientCredentials{ID: c.ID}, "")
	h.clock.t = h.clock.t.Add(11 * time.Minute)
	if _, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantDeviceCode, Client: ClientCredentials{ID: c.ID}, Form: map[string]string{"device_code": late.DeviceCode}}); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("expired: got %v; want expired_token", err)
	}
	if code := NormalizeUserCode("bcdf-ghjk"); code != "BCDFGHJK" {
		t.Errorf("NormalizeUserCode: got %q", code)
	}
}

// TestDecideDeviceApproval: RFC 8628 §3.3, the user's answer as a table:
// a denial records only DeviceCodeDenied; an approval records
// DeviceCodeApproved and widens the consent unless it covers the scopes.
func TestDecideDeviceApproval(t *testing.T) {
	p := DevicePrompt{Code: DeviceCode{ID: "d1", ClientID: "c1", Scopes: []string{"read", "write"}}, Client: Client{ID: "c1"}}
	u := User{ID: "u1"}
	tests := []struct {
		name    string
		approve bool
		consent Authorization
		found   bool
		want    []Event
	}{
		{"denied", false, Authorization{}, false, []Event{DeviceCodeDenied{DeviceCodeID: "d1", ClientID: "c1", UserID: "u1"}}},
		{"approved without consent", true, Authorization{}, false, []Event{
			DeviceCodeApproved{DeviceCodeID: "d1", ClientID: "c1", UserID: "u1"},
			ClientAuthorized{UserID: "u1", ClientID: "c1", Scopes: []string{"read", "write"}}}},
		{"approved, consent covers", true, Authorization{UserID: "u1", ClientID: "c1", Scopes: []string{"read", "write", "x"}}, true, []Event{
			DeviceCodeApproved{DeviceCodeID: "d1", ClientID: "c1", UserID: "u1"}}},
		{"approved, consent widened", true, Authorization{UserID: "u1", ClientID: "c1", Scopes: []string{"x"}}, true, []Event{
			DeviceCodeApproved{DeviceCodeID: "d1", ClientID: "c1", UserID: "u1"},
			ClientAuthorized{UserID: "u1", ClientID: "c1", Scopes: []string{"read", "write", "x"}}}},
		{"approved, revoked consent not kept", true, Authorization{UserID: "u1", ClientID: "c1", Scopes: []string{"x"}, Revoked: true}, true, []Event{
			DeviceCodeApproved{DeviceCodeID: "d1", ClientID: "c1", UserID: "u1"},
			ClientAuthorized{UserID: "u1", ClientID: "c1", Scopes: []string{"read", "write"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decideDeviceApproval(p, u, tt.approve, tt.consent, tt.found)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("events = %#v, want %#v", got, tt.want)
			}
		})
	}
}
