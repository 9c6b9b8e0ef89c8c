package domain

import (
	"crypto/rand"
	"reflect"
	"testing"
	"time"
)

func TestDecideRevocation(t *testing.T) {
	caller := Client{ID: "c1"}
	order := []struct {
		name string
		cmd  revocation
		want error
		then []string
	}{
		{"no token (§2.1)", revocation{Hint: hintAccessToken}, ErrInvalidRequest, nil},
		{"unknown hint (§2.2.1)", revocation{Token: "t", Hint: "id_token"}, ErrUnsupportedTokenType, nil},
		{"no hint: access token first", revocation{Token: "t"}, nil, []string{hintAccessToken, hintRefreshToken}},
		{"access token hint", revocation{Token: "t", Hint: hintAccessToken}, nil, []string{hintAccessToken, hintRefreshToken}},
		{"refresh token hint only orders the look-ups", revocation{Token: "t", Hint: hintRefreshToken}, nil, []string{hintRefreshToken, hintAccessToken}},
	}
	for _, tt := range order {
		t.Run("order/"+tt.name, func(t *testing.T) {
			got, err := decideRevocationOrder(caller, tt.cmd, decisionNow(), rand.Reader)
			if checkErr(t, err, tt.want) && !reflect.DeepEqual(got, tt.then) {
				t.Errorf("got %v; want %v", got, tt.then)
			}
		})
	}

	access := []struct {
		name  string
		state Claims
		want  error
		then  string
	}{
		{"not a live access token: look further", Claims{}, nil, ""},
		{"another client's access token is refused", Claims{ID: "t1", ClientID: "c2"}, ErrUnauthorizedClient, ""},
		{"own access token is revoked", Claims{ID: "t1", ClientID: "c1"}, nil, "t1"},
	}
	for _, tt := range access {
		t.Run("access/"+tt.name, func(t *testing.T) {
			got, err := decideRevokeAsAccessToken(tt.state, caller, decisionNow(), rand.Reader)
			if checkErr(t, err, tt.want) && got != tt.then {
				t.Errorf("got %q; want %q", got, tt.then)
			}
		})
	}

	refresh := []struct {
		name  string
		state RefreshFamily
		then  refreshRevocation
	}{
		{"unknown refresh token", RefreshFamily{}, refreshRevocation{}},
		{"another client's refresh token reads as unknown", RefreshFamily{ID: "f1", ClientID: "c2"}, refreshRevocation{}},
		{"a revoked family is found, nothing to do", RefreshFamily{ID: "f1", ClientID: "c1", Revoked: true}, refreshRevocation{Found: true}},
		{"own refresh token revokes its whole family", RefreshFamily{ID: "f1", ClientID: "c1"}, refreshRevocation{Found: true, FamilyID: "f1"}},
	}
	for _, tt := range refresh {
		t.Run("refresh/"+tt.name, func(t *testing.T) {
			got, err := decideRevokeAsRefreshToken(tt.state, caller, decisionNow(), rand.Reader)
			if err != nil || got != tt.then {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.then)
			}
		})
	}
}

func TestDecideRevokeTokenAndFamily(t *testing.T) {
	exp := decisionNow().Add(time.Hour)
	tokens := []struct {
		name  string
		state AccessToken
		want  error
		then  []Event
	}{
		{"unknown token", AccessToken{}, ErrNotFound, nil},
		{"revoked token changes nothing", AccessToken{ID: "t1", Revoked: true}, nil, nil},
		{"live token is revoked, remembered until its expiry", AccessToken{ID: "t1", ClientID: "c1", UserID: "u1", ExpiresAt: exp}, nil,
			[]Event{AccessTokenRevoked{TokenID: "t1", ClientID: "c1", UserID: "u1", ExpiresAt: exp, Reason: ReasonRevokedByClient}}},
	}
	for _, tt := range tokens {
		t.Run("token/"+tt.name, func(t *testing.T) {
			got, err := decideRevokeAccessToken(tt.state, ReasonRevokedByClient, decisionNow(), rand.Reader)
			if checkErr(t, err, tt.want) && !reflect.DeepEqual(got, tt.then) {
				t.Errorf("got %+v; want %+v", got, tt.then)
			}
		})
	}

	live := RefreshFamily{ID: "f1", TokenID: "r2", ClientID: "c1", UserID: "u1", AccessTokenID: "t2"}
	revoked := live
	revoked.Revoked = true
	families := []struct {
		name  string
		state RefreshFamily
		want  error
		then  familyRevocation
	}{
		{"unknown family", RefreshFamily{}, ErrNotFound, familyRevocation{}},
		{"a revoked family records nothing, its access token is revoked again", revoked, nil, familyRevocation{AccessTokenID: "t2"}},
		{"a live family's token and its access token are revoked", live, nil, familyRevocation{AccessTokenID: "t2",
			Events: []Event{RefreshTokenRevoked{FamilyID: "f1", RefreshTokenID: "r2", ClientID: "c1", UserID: "u1", Reason: ReasonPruned}}}},
	}
	for _, tt := range families {
		t.Run("family/"+tt.name, func(t *testing.T) {
			got, err := decideRevokeRefreshFamily(tt.state, ReasonPruned, decisionNow(), rand.Reader)
			if checkErr(t, err, tt.want) && !reflect.DeepEqual(got, tt.then) {
				t.Errorf("got %+v; want %+v", got, tt.then)
			}
		})
	}
}
