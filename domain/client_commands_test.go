package domain

import (
	"crypto/rand"
	"strings"
	"testing"
)

func TestDecideRegisterClient(t *testing.T) {
	scopes, _ := NewScopes([]Scope{{"read", ""}}, nil)
	tests := []struct {
		name string
		cmd  RegisterClient
		want error
	}{
		{"no name", RegisterClient{Grants: []string{GrantClientCredentials}}, invalidField("name")},
		{"long name", RegisterClient{Name: strings.Repeat("x", 256), Grants: []string{GrantClientCredentials}}, invalidField("name")},
		{"no grant", RegisterClient{Name: "a"}, invalidField("grants")},
		{"unknown grant", RegisterClient{Name: "a", Grants: []string{"magic"}}, invalidField("grants")},
		{"public machine", RegisterClient{Name: "a", Grants: []string{GrantClientCredentials}, Public: true}, invalidField("grants")},
		{"code without redirect", RegisterClient{Name: "a", Grants: []string{GrantAuthorizationCode}}, invalidField("redirect_uris")},
		{"implicit without redirect", RegisterClient{Name: "a", Grants: []string{GrantImplicit}}, invalidField("redirect_uris")},
		{"relative redirect", RegisterClient{Name: "a", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"/cb"}}, invalidField("redirect_uris")},
		{"fragment", RegisterClient{Name: "a", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://a.example/cb#x"}}, invalidField("redirect_uris")},
		{"unknown scope", RegisterClient{Name: "a", Grants: []string{GrantClientCredentials}, Scopes: []string{"write"}}, invalidField("scopes")},
		{"bad user id", RegisterClient{Name: "a", Grants: []string{GrantClientCredentials}, UserID: "a b"}, invalidField("user_id")},
		{"audience with a fragment", RegisterClient{Name: "a", Grants: []string{GrantClientCredentials}, Audiences: []string{"https://api.example/#x"}}, invalidField("audiences")},
		{"confidential machine", RegisterClient{Name: " a ", Grants: []string{GrantClientCredentials, GrantClientCredentials}}, nil},
		{"public native app", RegisterClient{Name: "spa", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"com.example.app:/cb"}, Public: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := decideRegisterClient(scopes, tt.cmd, decisionNow(), rand.Reader)
			if !checkErr(t, err, tt.want) {
				return
			}
			e := d.Event
			if !ValidID(e.ClientID) || e.Name != strings.TrimSpace(tt.cmd.Name) || !e.RegisteredAt.Equal(decisionNow()) || len(e.Grants) != 1 {
				t.Errorf("got %+v; want a valid id, the trimmed name, now and the grants once", e)
			}
			if tt.cmd.Public != (d.Secret == "" && e.SecretHash == "") {
				t.Errorf("public %v: got secret %q, hash %q", tt.cmd.Public, d.Secret, e.SecretHash)
			}
			if !tt.cmd.Public && !SecretMatches(d.Secret, e.SecretHash) {
				t.Errorf("the event's hash does not match the secret")
			}
		})
	}
}

func TestDecideClientCommands(t *testing.T) {
	scopes := testScopes(t)
	web := Client{ID: "c1", Name: "App", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example/cb"},
		Scopes: []string{"read"}, Audiences: []string{"https://api.example"}, SecretHash: HashSecret("s"), UserID: "u1", Seq: 3}
	machine := Client{ID: "c2", Name: "Cron", Grants: []string{GrantClientCredentials}, SecretHash: HashSecret("s"), Seq: 4}
	public := Client{ID: "c3", Name: "SPA", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://spa.example/cb"}, Seq: 5}
	deleted := web
	deleted.Deleted = true

	updates := []struct {
		name  string
		state Client
		cmd   UpdateClient
		want  error
		then  ClientUpdated
	}{
		{"unknown client", Client{}, UpdateClient{ClientID: "c9", Name: "x"}, ErrNotFound, ClientUpdated{}},
		{"deleted client", deleted, UpdateClient{ClientID: "c1", Name: "x", RedirectURIs: []string{"https://app.example/cb"}}, ErrNotFound, ClientUpdated{}},
		{"someone else's client", web, UpdateClient{ClientID: "c1", Name: "x", RedirectURIs: []string{"https://app.example/cb"}, UserID: "u2"}, ErrNotFound, ClientUpdated{}},
		{"code client without redirect", web, UpdateClient{ClientID: "c1", Name: "App 3", UserID: "u1"}, invalidField("redirect_uris"), ClientUpdated{}},
		{"bad redirect", web, UpdateClient{ClientID: "c1", Name: "x", RedirectURIs: []string{"javascript:alert(1)"}}, invalidField("redirect_uris"), ClientUpdated{}},
		{"no name", web, UpdateClient{ClientID: "c1", Name: " ", RedirectURIs: []string{"https://app.example/cb"}}, invalidField("name"), ClientUpdated{}},
		{"unknown scope", web, UpdateClient{ClientID: "c1", Name: "x", RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"admin"}}, invalidField("scopes"), ClientUpdated{}},
		{"bad audience", web, UpdateClient{ClientID: "c1", Name: "x", RedirectURIs: []string{"https://app.example/cb"}, Audiences: []string{"api"}}, invalidField("audiences"), ClientUpdated{}},
		{"owner renames, nil keeps scopes and audiences", web, UpdateClient{ClientID: "c1", Name: " App 2 ", RedirectURIs: []string{"https://app.example/cb2"}, UserID: "u1"}, nil,
			ClientUpdated{ClientID: "c1", Name: "App 2", RedirectURIs: []string{"https://app.example/cb2"}, Scopes: []string{"read"}, Audiences: []string{"https://api.example"}}},
		{"empty audiences remove them", web, UpdateClient{ClientID: "c1", Name: "App", RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{}, Audiences: []string{}}, nil,
			ClientUpdated{ClientID: "c1", Name: "App", RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{}, Audiences: []string{}}},
		{"machine client needs no redirect", machine, UpdateClient{ClientID: "c2", Name: "Cron 2"}, nil, ClientUpdated{ClientID: "c2", Name: "Cron 2"}},
	}
	for _, tt := range updates {
		t.Run("update/"+tt.name, func(t *testing.T) {
			e, err := decideUpdateClient(clientState{Client: tt.state, Scopes: scopes}, tt.cmd, decisionNow(), rand.Reader)
			if !checkErr(t, err, tt.want) {
				return
			}
			if e.ClientID != tt.then.ClientID || e.Name != tt.then.Name || strings.Join(e.RedirectURIs, " ") != strings.Join(tt.then.RedirectURIs, " ") ||
				strings.Join(e.Scopes, " ") != strings.Join(tt.then.Scopes, " ") || strings.Join(e.Audiences, " ") != strings.Join(tt.then.Audiences, " ") ||
				(e.Audiences == nil) != (tt.then.Audiences == nil) {
				t.Errorf("got %+v; want %+v", e, tt.then)
			}
		})
	}

	refs := []struct {
		name       string
		state      Client
		cmd        ClientRef
		regenerate error
		del        error
	}{
		{"unknown client", Client{}, ClientRef{ClientID: "c9"}, ErrNotFound, ErrNotFound},
		{"deleted client", deleted, ClientRef{ClientID: "c1"}, ErrNotFound, ErrNotFound},
		{"someone else's client", web, ClientRef{ClientID: "c1", UserID: "u2"}, ErrNotFound, ErrNotFound},
		{"public client has no secret", public, ClientRef{ClientID: "c3"}, invalidField("client_id"), nil},
		{"owner", web, ClientRef{ClientID: "c1", UserID: "u1"}, nil, nil},
		{"admin (no user)", machine, ClientRef{ClientID: "c2"}, nil, nil},
	}
	for _, tt := range refs {
		t.Run("regenerate/"+tt.name, func(t *testing.T) {
			d, err := decideRegenerateSecret(tt.state, tt.cmd, decisionNow(), rand.Reader)
			if !checkErr(t, err, tt.regenerate) {
				return
			}
			if d.Event.ClientID != tt.state.ID || d.Secret == "" || !SecretMatches(d.Secret, d.Event.SecretHash) || SecretMatches("s", d.Event.SecretHash) {
				t.Errorf("got %+v; want a new secret whose hash the event holds", d)
			}
		})
		t.Run("delete/"+tt.name, func(t *testing.T) {
			e, err := decideDeleteClient(tt.state, tt.cmd, decisionNow(), rand.Reader)
			if checkErr(t, err, tt.del) && e != (ClientDeleted{ClientID: tt.state.ID}) {
				t.Errorf("got %+v; want the client deleted", e)
			}
		})
	}
}
