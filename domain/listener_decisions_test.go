package domain

import (
	"reflect"
	"testing"
	"time"
)

func TestDecideTokensReplaced(t *testing.T) {
	t0 := decisionNow()
	tok := func(id, user, client, grant string, seq uint64, mod func(*AccessToken)) AccessToken {
		a := AccessToken{ID: id, UserID: user, ClientID: client, GrantType: grant,
			IssuedAt: t0.Add(-time.Duration(20-seq) * time.Minute), ExpiresAt: t0.Add(time.Hour), Seq: seq}
		if mod != nil {
			mod(&a)
		}
		return a
	}
	created := AccessTokenCreated{TokenID: "new", ClientID: "c1", UserID: "u1", GrantType: GrantPassword, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	tests := []struct {
		name    string
		state   []AccessToken
		created AccessTokenCreated
		then    []string
	}{
		{"older live tokens of the user and client", []AccessToken{tok("old-2", "u1", "c1", GrantPassword, 5, nil), tok("old-1", "u1", "c1", GrantPassword, 1, nil)}, created, []string{"old-1", "old-2"}},
		{"the new token itself stays", []AccessToken{tok("new", "u1", "c1", GrantPassword, 10, nil)}, created, nil},
		{"another client's token stays", []AccessToken{tok("other-client", "u1", "c2", GrantPassword, 2, nil)}, created, nil},
		{"another user's token stays", []AccessToken{tok("other-user", "u2", "c1", GrantPassword, 3, nil)}, created, nil},
		{"a token appended later stays", []AccessToken{tok("later", "u1", "c1", GrantPassword, 12, nil)}, created, nil},
		{"a revoked token is left alone", []AccessToken{tok("revoked", "u1", "c1", GrantPassword, 6, func(a *AccessToken) { a.Revoked = true })}, created, nil},
		{"a token expired at the new one's issue is left alone", []AccessToken{tok("expired", "u1", "c1", GrantPassword, 4, func(a *AccessToken) { a.ExpiresAt = t0.Add(-time.Minute) })}, created, nil},
		{"a personal access token never suffers", []AccessToken{tok("personal", "u1", "c1", GrantPersonalAccess, 7, nil)}, created, nil},
		{"appended before but stamped after: the sequence decides", []AccessToken{tok("skewed", "u1", "c1", GrantPassword, 8, func(a *AccessToken) { a.IssuedAt = t0.Add(time.Second) })}, created, []string{"skewed"}},
		{"a token without a user triggers nothing", []AccessToken{tok("old-1", "", "c1", GrantClientCredentials, 1, nil)}, AccessTokenCreated{TokenID: "new", ClientID: "c1", GrantType: GrantClientCredentials, IssuedAt: t0}, nil},
		{"a personal access token triggers nothing", []AccessToken{tok("old-1", "u1", "c1", GrantPersonalAccess, 1, nil)}, AccessTokenCreated{TokenID: "new", ClientID: "c1", UserID: "u1", GrantType: GrantPersonalAccess, IssuedAt: t0}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecideTokensReplaced(tt.state, TokenReplacement{Created: tt.created, Seq: 10}, t0, nil)
			if err != nil || !reflect.DeepEqual(got, tt.then) {
				t.Errorf("got %v, %v; want %v", got, err, tt.then)
			}
		})
	}
}

func TestDecideFamiliesPruned(t *testing.T) {
	t0 := decisionNow()
	fam := func(id, user, client string, age time.Duration) RefreshFamily {
		return RefreshFamily{ID: id, UserID: user, ClientID: client, CreatedAt: t0.Add(-age), IssuedAt: t0.Add(-age), ExpiresAt: t0.Add(24 * time.Hour)}
	}
	revoked := fam("revoked", "u1", "c1", 30*time.Minute)
	revoked.Revoked = true
	expired := fam("expired", "u1", "c1", 10*time.Minute)
	expired.ExpiresAt = t0.Add(-time.Second)
	all := []RefreshFamily{
		fam("new", "u1", "c1", 0),
		fam("a", "u1", "c1", time.Hour),
		fam("b", "u1", "c1", 2*time.Hour),
		fam("b2", "u1", "c1", 2*time.Hour), // ties with b: the larger id ranks newer
		fam("c", "u1", "c1", 3*time.Hour),
		fam("later", "u1", "c1", -time.Minute), // begun after "new"
		fam("other-client", "u1", "c2", 5*time.Hour),
		fam("other-user", "u2", "c1", 5*time.Hour),
		revoked, expired,
	}
	created := RefreshTokenCreated{FamilyID: "new", RefreshTokenID: "r1", ClientID: "c1", UserID: "u1", IssuedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	rotation := created
	rotation.ParentID = "r0"
	machine := created
	machine.UserID = ""
	tests := []struct {
		name    string
		created RefreshTokenCreated
		keep    int
		want    error
		then    []string
	}{
		{"keep 1: every other live family, newest first", created, 1, nil, []string{"a", "b2", "b", "c"}},
		{"keep 2", created, 2, nil, []string{"b2", "b", "c"}},
		{"keep 4", created, 4, nil, []string{"c"}},
		{"keep 5: all fit", created, 5, nil, nil},
		{"a rotation starts no family", rotation, 1, nil, nil},
		{"a family without a user prunes nothing", machine, 1, nil, nil},
		{"keep 0 is an error", created, 0, errAny, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecideFamiliesPruned(all, FamilyPrune{Created: tt.created, Keep: tt.keep}, t0, nil)
			if (err != nil) != (tt.want != nil) || !reflect.DeepEqual(got, tt.then) {
				t.Errorf("got %v, %v; want %v, %v", got, err, tt.then, tt.want)
			}
		})
	}
}
