package domain

import (
	"crypto/rand"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecidePersonalAccessToken(t *testing.T) {
	pac := Client{ID: "pac", Grants: []string{GrantPersonalAccess}}
	narrow := Client{ID: "pac2", Grants: []string{GrantPersonalAccess}, Scopes: []string{"read"}}
	ready := issueState{UserLive: true, Client: pac, Scopes: testScopes(t), Lifetime: 24 * time.Hour}
	tests := []struct {
		name       string
		state      issueState
		cmd        personalAccessCommand
		want       error
		thenScopes []string
	}{
		{"no name", ready, personalAccessCommand{UserID: "u1", Name: "  "}, invalidField("name"), nil},
		{"long name", ready, personalAccessCommand{UserID: "u1", Name: strings.Repeat("n", 256)}, invalidField("name"), nil},
		{"no user", ready, personalAccessCommand{Name: "cli"}, ErrNotFound, nil},
		{"deleted or unknown user", issueState{Client: pac, Scopes: testScopes(t)}, personalAccessCommand{UserID: "u1", Name: "cli"}, ErrNotFound, nil},
		{"no personal access client", issueState{UserLive: true, Scopes: testScopes(t)}, personalAccessCommand{UserID: "u1", Name: "cli"}, ErrNoPersonalAccessClient, nil},
		{"unknown scope", ready, personalAccessCommand{UserID: "u1", Name: "cli", Scopes: []string{"admin"}}, invalidField("scopes"), nil},
		{"a scope the client does not allow", issueState{UserLive: true, Client: narrow, Scopes: testScopes(t)}, personalAccessCommand{UserID: "u1", Name: "cli", Scopes: []string{"write"}}, invalidField("scopes"), nil},
		{"no scope is none, not the defaults", ready, personalAccessCommand{UserID: "u1", Name: " cli ", Scopes: nil}, nil, []string{}},
		{"scopes sorted", ready, personalAccessCommand{UserID: "u1", Name: "cli", Scopes: []string{"write", "read"}}, nil, []string{"read", "write"}},
		{"wildcard", ready, personalAccessCommand{UserID: "u1", Name: "cli", Scopes: []string{"*"}}, nil, []string{"*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decidePersonalAccessToken(tt.state, tt.cmd, decisionNow(), rand.Reader)
			if !checkErr(t, err, tt.want) {
				return
			}
			want := accessIssue{Client: tt.state.Client, UserID: "u1", Grant: GrantPersonalAccess, Name: "cli", Scopes: tt.thenScopes, TTL: 24 * time.Hour}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v; want %+v", got, want)
			}
		})
	}
}

func TestOldestLiveClient(t *testing.T) {
	t0 := decisionNow()
	old := Client{ID: "a", Grants: []string{GrantPersonalAccess}, CreatedAt: t0}
	newer := Client{ID: "b", Grants: []string{GrantPersonalAccess}, CreatedAt: t0.Add(time.Hour)}
	deleted := Client{ID: "c", Grants: []string{GrantPersonalAccess}, CreatedAt: t0.Add(-time.Hour), Deleted: true}
	other := Client{ID: "d", Grants: []string{GrantPassword}, CreatedAt: t0.Add(-2 * time.Hour)}
	pa := func(c Client) bool { return c.HasGrant(GrantPersonalAccess) }
	if got := oldestLiveClient([]Client{newer, deleted, other, old}, pa); got.ID != "a" {
		t.Errorf("got %q; want the oldest live personal access client a", got.ID)
	}
	if got := oldestLiveClient([]Client{deleted, other}, pa); got.ID != "" {
		t.Errorf("got %q; want none", got.ID)
	}
}
