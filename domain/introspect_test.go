package domain

import (
	"reflect"
	"testing"
	"time"
)

func TestDecideIntrospection(t *testing.T) {
	now := decisionNow()
	conf := Client{ID: "c1", SecretHash: HashSecret("s")}
	other := Client{ID: "c2", SecretHash: HashSecret("s")}
	public := Client{ID: "c3"}
	access := AccessToken{ID: "t1", ClientID: "c2", Scopes: []string{"read"}}
	claims := Claims{ID: "t1", ClientID: "c2", Scope: "read", Subject: "u1", Issuer: "https://auth.example", Audience: Audience{"c2"},
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(time.Hour).Unix()}
	fam := RefreshFamily{ID: "f1", ClientID: "c1", UserID: "u1", Scopes: []string{"read"}, TokenID: "r2", TokenHash: HashSecret("rt"),
		IssuedAt: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
	machineFam := fam
	machineFam.UserID = ""
	revoked := fam
	revoked.Revoked = true
	expired := fam
	expired.ExpiresAt = now
	refreshAnswer := Introspection{Active: true, Scope: "read", Scopes: []string{"read"}, ClientID: "c1", TokenType: "refresh_token",
		Exp: fam.ExpiresAt.Unix(), Iat: fam.IssuedAt.Unix(), Sub: "u1", Iss: "https://auth.example", Jti: "r2"}
	machineAnswer := refreshAnswer
	machineAnswer.Sub = "c1"
	inactive := Introspection{}
	tests := []struct {
		name  string
		state introspectionState
		token string
		want  error
		then  Introspection
	}{
		{"a public client may not introspect (§4)", introspectionState{Caller: public}, "t", ErrUnauthorizedClient, inactive},
		{"no token (§2.1)", introspectionState{Caller: conf}, "", ErrInvalidRequest, inactive},
		{"any confidential client introspects any valid access token", introspectionState{Caller: conf, Access: access, Claims: claims}, "jwt", nil,
			Introspection{Active: true, Scope: "read", Scopes: []string{"read"}, ClientID: "c2", TokenType: "Bearer", Exp: claims.Expiry, Iat: claims.IssuedAt,
				Nbf: claims.NotBefore, Sub: "u1", Aud: Audience{"c2"}, Iss: "https://auth.example", Jti: "t1"}},
		{"an unknown token is inactive", introspectionState{Caller: conf, Issuer: "https://auth.example"}, "rt", nil, inactive},
		{"own live refresh token is active", introspectionState{Caller: conf, Family: fam, FamilyUserLive: true, Issuer: "https://auth.example"}, "rt", nil, refreshAnswer},
		{"a refresh token without a user has the client as subject", introspectionState{Caller: conf, Family: machineFam, FamilyUserLive: true, Issuer: "https://auth.example"}, "rt", nil, machineAnswer},
		{"another client's refresh token is inactive", introspectionState{Caller: other, Family: fam, FamilyUserLive: true}, "rt", nil, inactive},
		{"a rotated out refresh token is inactive", introspectionState{Caller: conf, Family: fam, FamilyUserLive: true}, "old-rt", nil, inactive},
		{"a revoked family is inactive", introspectionState{Caller: conf, Family: revoked, FamilyUserLive: true}, "rt", nil, inactive},
		{"an expired family is inactive", introspectionState{Caller: conf, Family: expired, FamilyUserLive: true}, "rt", nil, inactive},
		{"a deleted user's refresh token is inactive", introspectionState{Caller: conf, Family: fam}, "rt", nil, inactive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decideIntrospection(tt.state, tt.token, now, nil)
			if checkErr(t, err, tt.want) && !reflect.DeepEqual(got, tt.then) {
				t.Errorf("got %+v; want %+v", got, tt.then)
			}
		})
	}
}

func TestDecideAccessTokenValid(t *testing.T) {
	now := decisionNow()
	live := AccessToken{ID: "t1", ClientID: "c1", UserID: "u1", ExpiresAt: now.Add(time.Hour)}
	revoked := live
	revoked.Revoked = true
	expired := live
	expired.ExpiresAt = now
	client := Client{ID: "c1"}
	deleted := Client{ID: "c1", Deleted: true}
	tests := []struct {
		name  string
		state tokenState
		want  error
	}{
		{"unknown token id", tokenState{Client: client, UserLive: true}, ErrInvalidToken},
		{"revoked", tokenState{Token: revoked, Client: client, UserLive: true}, ErrInvalidToken},
		{"expired", tokenState{Token: expired, Client: client, UserLive: true}, ErrInvalidToken},
		{"its client was deleted", tokenState{Token: live, Client: deleted, UserLive: true}, ErrInvalidToken},
		{"its client is unknown", tokenState{Token: live, UserLive: true}, ErrInvalidToken},
		{"its user was deleted", tokenState{Token: live, Client: client}, ErrInvalidToken},
		{"valid", tokenState{Token: live, Client: client, UserLive: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decideAccessTokenValid(tt.state, Claims{ID: "t1"}, now, nil)
			if checkErr(t, err, tt.want) && got.ID != "t1" {
				t.Errorf("got %+v; want the token", got)
			}
		})
	}
}
