package domain

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCanonicalWebOrigin(t *testing.T) {
	tests := []struct {
		raw, want string
		ok        bool
	}{
		{"https://app.example", "https://app.example", true},
		{"http://localhost:5173", "http://localhost:5173", true},
		{"https://App.Example", "https://app.example", true},
		{"HTTPS://app.example", "https://app.example", true},
		{"https://app.example:443", "https://app.example", true},
		{"http://app.example:80", "http://app.example", true},
		{"https://app.example:8443", "https://app.example:8443", true},
		{"https://app.example/", "https://app.example", true},
		{"http://[::1]:3000", "http://[::1]:3000", true},
		{"https://app.example/spa", "", false},
		{"https://*.example", "", false},
		{"*", "", false},
		{"null", "", false},
		{"app.example", "", false},
		{"ftp://app.example", "", false},
		{"https://", "", false},
		{"https://user@app.example", "", false},
		{"https://app.example?x=1", "", false},
		{"https://app.example?", "", false},
		{"https://app.example#x", "", false},
		{"https://app.example#", "", false},
		{"https://app .example", "", false},
		{"", "", false},
		{"https://" + strings.Repeat("a", MaxWebOriginLength), "", false},
	}
	for _, tt := range tests {
		got, ok := CanonicalWebOrigin(tt.raw)
		if got != tt.want || ok != tt.ok {
			t.Errorf("CanonicalWebOrigin(%q) = %q, %v; want %q, %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}

func TestDecideWebOrigins(t *testing.T) {
	scopes, _ := NewScopes([]Scope{{"read", ""}}, nil)
	spa := func(origins ...string) RegisterClient {
		return RegisterClient{Name: "spa", Grants: []string{GrantAuthorizationCode}, RedirectURIs: []string{"https://app.example/cb"}, Public: true, WebOrigins: origins}
	}
	many := make([]string, MaxWebOrigins+1)
	for i := range many {
		many[i] = "https://a" + itoa(i) + ".example"
	}
	for _, tt := range []struct {
		name string
		cmd  RegisterClient
		want error
	}{
		{"none", spa(), nil},
		{"two", spa("https://app.example", "http://localhost:5173"), nil},
		{"path", spa("https://app.example/spa"), invalidField("web_origins")},
		{"wildcard", spa("*"), invalidField("web_origins")},
		{"not as a browser sends it", spa("https://App.example:443"), invalidField("web_origins")},
		{"twice", spa("https://app.example", "https://app.example"), invalidField("web_origins")},
		{"too many", spa(many...), invalidField("web_origins")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := decideRegisterClient(scopes, tt.cmd, decisionNow(), rand.Reader)
			if !checkErr(t, err, tt.want) {
				return
			}
			if !slices.Equal(d.Event.WebOrigins, tt.cmd.WebOrigins) {
				t.Errorf("got web origins %q; want %q", d.Event.WebOrigins, tt.cmd.WebOrigins)
			}
		})
	}

	c := ApplyClient(Client{}, ClientRegistered{ClientID: "c-1", Name: "spa", Grants: []string{GrantAuthorizationCode},
		RedirectURIs: []string{"https://app.example/cb"}, WebOrigins: []string{"https://app.example"}}, 1, decisionNow())
	state := clientState{Client: c, Scopes: scopes}
	keep, err := decideUpdateClient(state, UpdateClient{ClientID: "c-1", Name: "spa 2", RedirectURIs: c.RedirectURIs}, decisionNow(), rand.Reader)
	if err != nil || !slices.Equal(keep.WebOrigins, c.WebOrigins) {
		t.Errorf("update without web origins: got %q, %v; want the client's %q kept", keep.WebOrigins, err, c.WebOrigins)
	}
	cleared, err := decideUpdateClient(state, UpdateClient{ClientID: "c-1", Name: "spa", RedirectURIs: c.RedirectURIs, WebOrigins: []string{}}, decisionNow(), rand.Reader)
	if err != nil || len(cleared.WebOrigins) != 0 {
		t.Errorf("update with an empty list: got %q, %v; want none", cleared.WebOrigins, err)
	}
	if c2 := ApplyClient(c, cleared, 2, decisionNow()); c2.AllowsWebOrigin("https://app.example") {
		t.Error("a cleared origin is still allowed")
	}
	_, err = decideUpdateClient(state, UpdateClient{ClientID: "c-1", Name: "spa", RedirectURIs: c.RedirectURIs, WebOrigins: []string{"https://*.example"}}, decisionNow(), rand.Reader)
	checkErr(t, err, invalidField("web_origins"))
}

func TestClientAllowsWebOrigin(t *testing.T) {
	c := Client{ID: "c-1", WebOrigins: []string{"https://app.example"}}
	for _, tt := range []struct {
		c      Client
		origin string
		want   bool
	}{
		{c, "https://app.example", true},
		{c, "https://app.example:443", false},
		{c, "https://other.example", false},
		{c, "", false},
		{Client{ID: "c-1", WebOrigins: c.WebOrigins, Deleted: true}, "https://app.example", false},
		{Client{WebOrigins: c.WebOrigins}, "https://app.example", false},
	} {
		if got := tt.c.AllowsWebOrigin(tt.origin); got != tt.want {
			t.Errorf("%+v.AllowsWebOrigin(%q) = %v; want %v", tt.c, tt.origin, got, tt.want)
		}
	}
}

// TestClientWebOriginsEvents: web origins travel in ClientRegistered and
// ClientUpdated as an optional field of version 1, so the released
// payloads (the golden files, without it) decode to none, and one with it
// decodes to them.
func TestClientWebOriginsEvents(t *testing.T) {
	for _, name := range []string{"ClientRegistered.v1.json", "ClientUpdated.v1.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "web_origins") {
			t.Fatalf("%s: the released golden file must not change", name)
		}
		var env Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		e, err := Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		const id = "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10"
		if c := ApplyClient(Client{ID: id}, e, 1, env.Time); c.WebOrigins != nil {
			t.Errorf("%s: got web origins %q; want none", name, c.WebOrigins)
		}
		var data map[string]any
		if err := json.Unmarshal(env.Data, &data); err != nil {
			t.Fatal(err)
		}
		data["web_origins"] = []string{"https://app.example"}
		env.Data, _ = json.Marshal(data)
		if e, err = Decode(env); err != nil {
			t.Fatal(err)
		}
		if c := ApplyClient(Client{ID: id}, e, 2, env.Time); !c.AllowsWebOrigin("https://app.example") {
			t.Errorf("%s with web origins: got %q; want [https://app.example]", name, c.WebOrigins)
		}
	}
	b, _ := json.Marshal(ClientUpdated{ClientID: "c"})
	if strings.Contains(string(b), "web_origins") {
		t.Errorf("got %s; without web origins nothing new is written", b)
	}
}
