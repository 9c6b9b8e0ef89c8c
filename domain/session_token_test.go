package domain

import (
	"crypto/rand"
	"reflect"
	"testing"
)

func TestDecideSessionToken(t *testing.T) {
	pac := Client{ID: "pac", Grants: []string{GrantPersonalAccess}}
	tests := []struct {
		name   string
		state  issueState
		userID string
		want   error
	}{
		{"no user", issueState{UserLive: true, Client: pac}, "", ErrNotFound},
		{"deleted user", issueState{Client: pac}, "u1", ErrNotFound},
		{"no personal access client", issueState{UserLive: true}, "u1", ErrNoPersonalAccessClient},
		{"live user", issueState{UserLive: true, Client: pac}, "u1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decideSessionToken(tt.state, tt.userID, decisionNow(), rand.Reader)
			want := accessIssue{Client: pac, UserID: "u1", Grant: GrantSession, Name: "session", Scopes: []string{WildcardScope}, TTL: SessionTokenLifetime}
			if checkErr(t, err, tt.want) && !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v; want %+v", got, want)
			}
		})
	}
}

func TestDecideSessionTokenRefreshAndEnd(t *testing.T) {
	session := AccessToken{ID: "t1", UserID: "u1", GrantType: GrantSession}
	app := AccessToken{ID: "t2", UserID: "u1", GrantType: GrantPassword}
	tests := []struct {
		name        string
		state       AccessToken
		refreshWant error
		endRevokes  string
	}{
		{"a session token is rotated, or revoked at logout", session, nil, "t1"},
		{"another grant's token is no session token", app, ErrInvalidToken, ""},
		{"an invalid token ends nothing", AccessToken{}, ErrInvalidToken, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, err := decideRefreshSessionToken(tt.state, "raw", decisionNow(), rand.Reader)
			if checkErr(t, err, tt.refreshWant) && old.ID != tt.state.ID {
				t.Errorf("refresh revokes %q; want %q", old.ID, tt.state.ID)
			}
			jti, err := decideEndSessionToken(tt.state, "raw", decisionNow(), rand.Reader)
			if err != nil || jti != tt.endRevokes {
				t.Errorf("end: got %q, %v; want %q", jti, err, tt.endRevokes)
			}
		})
	}
}
