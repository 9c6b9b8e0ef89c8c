package domain

import (
	"reflect"
	"testing"
	"time"
)

func TestDecideUserCodeEntry(t *testing.T) {
	now := decisionNow()
	scopes := testScopes(t)
	pending := DeviceCode{ID: "d1", ClientID: "c1", Scopes: []string{"read"}, Status: DevicePending, ExpiresAt: now.Add(time.Minute), Seq: 2}
	with := func(mod func(*DeviceCode)) DeviceCode {
		d := pending
		mod(&d)
		return d
	}
	client := Client{ID: "c1", Name: "TV"}
	tests := []struct {
		name  string
		state userCodeState
		code  string
		want  error
	}{
		{"too short", userCodeState{Code: pending, Client: client, Scopes: scopes}, "WDJB-MJH", ErrInvalidGrant},
		{"unknown code", userCodeState{Client: client, Scopes: scopes}, "WDJB-MJHT", ErrInvalidGrant},
		{"approved already", userCodeState{Code: with(func(d *DeviceCode) { d.Status = DeviceApproved }), Client: client, Scopes: scopes}, "WDJB-MJHT", ErrInvalidGrant},
		{"denied", userCodeState{Code: with(func(d *DeviceCode) { d.Status = DeviceDenied }), Client: client, Scopes: scopes}, "WDJB-MJHT", ErrInvalidGrant},
		{"expired (§3.5)", userCodeState{Code: with(func(d *DeviceCode) { d.ExpiresAt = now }), Client: client, Scopes: scopes}, "WDJB-MJHT", ErrInvalidGrant},
		{"its client is gone", userCodeState{Code: pending, Client: Client{ID: "c1", Deleted: true}, Scopes: scopes}, "WDJB-MJHT", ErrInvalidGrant},
		{"pending: the prompt, typed in any case and with any separators", userCodeState{Code: pending, Client: client, Scopes: scopes}, "wdjb mjht", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decideUserCodeEntry(tt.state, tt.code, now, nil)
			if !checkErr(t, err, tt.want) {
				return
			}
			want := DevicePrompt{Code: pending, Client: client, Scopes: []Scope{{"read", "Read your data"}}}
			if !reflect.DeepEqual(p, want) {
				t.Errorf("got %+v; want %+v", p, want)
			}
		})
	}
}
