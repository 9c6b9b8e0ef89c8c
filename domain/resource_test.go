package domain

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	ordersAPI  = "https://orders.example/api"
	billingAPI = "https://billing.example"
	adminAPI   = "https://admin.example"
)

// TestDecideResources is the table of RFC 8707's rule for the aud of a
// token: requested resources must be registered for the client and, when
// the grant is bound to resources, among them.
func TestDecideResources(t *testing.T) {
	c := Client{ID: "c1", Audiences: []string{ordersAPI, billingAPI, "urn:example:jobs"}}
	tests := []struct {
		name      string
		client    Client
		requested string
		bound     []string
		want      []string
		wantErr   string // substring of the invalid_target description
	}{
		{name: "none requested, none bound", client: c},
		{name: "none requested, client without audiences", client: Client{ID: "c2"}},
		{name: "one registered", client: c, requested: ordersAPI, want: []string{ordersAPI}},
		{name: "two, sorted and deduplicated", client: c, requested: ordersAPI + " " + billingAPI + " " + ordersAPI, want: []string{billingAPI, ordersAPI}},
		{name: "a URN", client: c, requested: "urn:example:jobs", want: []string{"urn:example:jobs"}},
		{name: "not registered", client: c, requested: adminAPI, wantErr: "not registered"},
		{name: "one of two not registered", client: c, requested: ordersAPI + " " + adminAPI, wantErr: adminAPI},
		{name: "client without audiences", client: Client{ID: "c2"}, requested: ordersAPI, wantErr: "not registered"},
		{name: "a prefix of a registered one", client: c, requested: "https://orders.example", wantErr: "not registered"},
		{name: "a longer path", client: c, requested: ordersAPI + "/v2", wantErr: "not registered"},
		{name: "case differs", client: c, requested: "https://ORDERS.example/api", wantErr: "not registered"},
		{name: "relative", client: c, requested: "/api", wantErr: "not an absolute URI"},
		{name: "fragment", client: c, requested: ordersAPI + "#x", wantErr: "not an absolute URI"},
		{name: "http without a host", client: c, requested: "https:///api", wantErr: "not an absolute URI"},
		{name: "bound, none requested: the bound ones", client: c, bound: []string{ordersAPI, billingAPI}, want: []string{billingAPI, ordersAPI}},
		{name: "bound, narrowed", client: c, requested: billingAPI, bound: []string{ordersAPI, billingAPI}, want: []string{billingAPI}},
		{name: "bound, widened", client: c, requested: "urn:example:jobs", bound: []string{ordersAPI}, wantErr: "not granted"},
		{name: "bound, no longer registered", client: Client{ID: "c1", Audiences: []string{billingAPI}}, bound: []string{ordersAPI, billingAPI}, wantErr: "not registered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decideResources(tt.client, tt.requested, tt.bound)
			if tt.wantErr != "" {
				var oe *OAuthError
				if !errors.Is(err, ErrInvalidTarget) || !errors.As(err, &oe) || !strings.Contains(oe.Description, tt.wantErr) {
					t.Fatalf("got %v, %v; want invalid_target mentioning %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
			wantAud := Audience(tt.want)
			if len(tt.want) == 0 {
				wantAud = Audience{tt.client.ID}
			}
			if aud := audienceOf(tt.client, got); !slices.Equal(aud, wantAud) {
				t.Errorf("aud: got %q; want %q", aud, wantAud)
			}
		})
	}
}

func TestValidateAudiences(t *testing.T) {
	ok := [][]string{nil, {ordersAPI}, {ordersAPI, billingAPI, "urn:ietf:params:x", "http://localhost:8081"}}
	for _, a := range ok {
		if err := validateAudiences(a); err != nil {
			t.Errorf("%q: got %v; want nil", a, err)
		}
	}
	many := make([]string, MaxAudiences+1)
	for i := range many {
		many[i] = "urn:x:" + strings.Repeat("a", i+1)
	}
	bad := [][]string{
		{"/relative"}, {"orders"}, {ordersAPI + "#frag"}, {"https://a.example/#"}, {"https://"}, {""},
		{"https://a.example/x y"}, {"https://a.example/\x01"}, {ordersAPI, ordersAPI}, many,
		{"https://a.example/" + strings.Repeat("p", MaxAudienceLength)},
	}
	for _, a := range bad {
		err := validateAudiences(a)
		if v, ok := AsValidation(err); !ok || v.Field != "audiences" {
			t.Errorf("%.80q: got %v; want a validation error on audiences", a, err)
		}
	}
}

func TestAudienceJSON(t *testing.T) {
	tests := []struct {
		aud  Audience
		wire string
	}{
		{Audience{"c1"}, `"c1"`},
		{Audience{ordersAPI, billingAPI}, `["https://orders.example/api","https://billing.example"]`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.aud)
		if err != nil || string(b) != tt.wire {
			t.Errorf("marshal %q: got %s, %v; want %s", tt.aud, b, err, tt.wire)
		}
		var back Audience
		if err := json.Unmarshal(b, &back); err != nil || !slices.Equal(back, tt.aud) {
			t.Errorf("unmarshal %s: got %q, %v", b, back, err)
		}
	}
	var a Audience
	for _, bad := range []string{`7`, `{"a":1}`, `[1]`} {
		if err := json.Unmarshal([]byte(bad), &a); err == nil {
			t.Errorf("unmarshal %s: got nil; want an error", bad)
		}
	}
}

// TestClientAudiencesEvents: the audiences travel in ClientRegistered and
// ClientUpdated as an optional field, so the released v1 payloads (the
// golden files, without it) decode to no audiences and a payload with it
// decodes to them.
func TestClientAudiencesEvents(t *testing.T) {
	for _, name := range []string{"ClientRegistered.v1.json", "ClientUpdated.v1.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "events", name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "audiences") {
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
		if c := ApplyClient(Client{ID: "x"}, e, 1, env.Time); c.Audiences != nil {
			t.Errorf("%s: got audiences %q; want none", name, c.Audiences)
		}
		// The same payload with the new field.
		var data map[string]any
		if err := json.Unmarshal(env.Data, &data); err != nil {
			t.Fatal(err)
		}
		data["audiences"] = []string{ordersAPI}
		env.Data, _ = json.Marshal(data)
		e, err = Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		if c := ApplyClient(Client{ID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10"}, e, 2, env.Time); !slices.Equal(c.Audiences, []string{ordersAPI}) {
			t.Errorf("%s with audiences: got %q; want [%s]", name, c.Audiences, ordersAPI)
		}
	}
	// Without audiences nothing new is written: old readers see old bytes.
	b, _ := json.Marshal(ClientRegistered{ClientID: "c"})
	if strings.Contains(string(b), "audiences") {
		t.Errorf("got %s; want no audiences field when there are none", b)
	}
}

// TestResourceIndicators runs RFC 8707 through the service: registration,
// every grant's resource parameter, the code and refresh grants' binding.
func TestResourceIndicators(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	if _, _, err := h.svc.RegisterClient(ctx, Actor{Kind: ActorCLI}, RegisterClient{Name: "bad", Grants: []string{GrantClientCredentials}, Audiences: []string{"orders"}}); err == nil {
		t.Fatalf("register with a relative audience: got nil; want a validation error")
	}
	machine, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}, Audiences: []string{ordersAPI, billingAPI}})
	if !slices.Equal(machine.Audiences, []string{ordersAPI, billingAPI}) {
		t.Fatalf("registered audiences: got %q", machine.Audiences)
	}
	cc := func(resource string) (TokenResponse, error) {
		return h.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: machine.ID, Secret: secret}, Form: map[string]string{"resource": resource}})
	}
	aud := func(raw string) []string {
		t.Helper()
		tok, claims, err := h.svc.ValidateAccessToken(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(tok.Audience, []string(claims.Audience)) && len(tok.Audience) > 0 {
			t.Errorf("read model audience %q; claims %q", tok.Audience, claims.Audience)
		}
		return claims.Audience
	}
	for _, tt := range []struct {
		resource string
		want     []string
	}{
		{"", []string{machine.ID}},
		{ordersAPI, []string{ordersAPI}},
		{billingAPI + " " + ordersAPI, []string{billingAPI, ordersAPI}},
	} {
		resp, err := cc(tt.resource)
		if err != nil {
			t.Fatalf("resource %q: %v", tt.resource, err)
		}
		if got := aud(resp.AccessToken); !slices.Equal(got, tt.want) {
			t.Errorf("resource %q: aud %q; want %q", tt.resource, got, tt.want)
		}
	}
	before := len(h.log.events())
	if _, err := cc(adminAPI); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("unregistered resource: got %v; want invalid_target", err)
	}
	if n := len(h.log.events()); n != before {
		t.Errorf("a refused request appended %d events", n-before)
	}

	// Updating the client: nil keeps the audiences, an empty list clears.
	up, err := h.svc.UpdateClient(ctx, Actor{Kind: ActorCLI}, UpdateClient{ClientID: machine.ID, Name: "machine 2"})
	if err != nil || !slices.Equal(up.Audiences, machine.Audiences) {
		t.Fatalf("update without audiences: got %q, %v; want them kept", up.Audiences, err)
	}
	if _, err := h.svc.UpdateClient(ctx, Actor{Kind: ActorCLI}, UpdateClient{ClientID: machine.ID, Name: "machine 2", Audiences: []string{"x"}}); err == nil {
		t.Errorf("update with a bad audience: got nil; want a validation error")
	}
	if up, err := h.svc.UpdateClient(ctx, Actor{Kind: ActorCLI}, UpdateClient{ClientID: machine.ID, Name: "machine 2", Audiences: []string{billingAPI}}); err != nil || !slices.Equal(up.Audiences, []string{billingAPI}) {
		t.Fatalf("update audiences: got %q, %v", up.Audiences, err)
	}
	if _, err := cc(ordersAPI); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("a resource removed from the client: got %v; want invalid_target", err)
	}

	// Password grant and refresh: the family keeps its resources; a
	// refresh may narrow them, never widen.
	h.user(t, "ada@example.com")
	app, appSecret := h.client(t, RegisterClient{Name: "app", Grants: []string{GrantPassword, GrantRefreshToken}, Audiences: []string{ordersAPI, billingAPI, adminAPI}})
	cred := ClientCredentials{ID: app.ID, Secret: appSecret}
	pw, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantPassword, Client: cred, Form: map[string]string{"username": "ada@example.com", "password": "correct horse", "resource": ordersAPI + " " + billingAPI}})
	if err != nil {
		t.Fatal(err)
	}
	if got := aud(pw.AccessToken); !slices.Equal(got, []string{billingAPI, ordersAPI}) {
		t.Errorf("password grant: aud %q", got)
	}
	refresh := func(rt, resource string) (TokenResponse, error) {
		return h.svc.Token(ctx, TokenRequest{GrantType: GrantRefreshToken, Client: cred, Form: map[string]string{"refresh_token": rt, "resource": resource}})
	}
	if _, err := refresh(pw.RefreshToken, adminAPI); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("refresh widening to another registered resource: got %v; want invalid_target", err)
	}
	narrowed, err := refresh(pw.RefreshToken, billingAPI)
	if err != nil {
		t.Fatal(err)
	}
	if got := aud(narrowed.AccessToken); !slices.Equal(got, []string{billingAPI}) {
		t.Errorf("narrowed refresh: aud %q; want [%s]", got, billingAPI)
	}
	kept, err := refresh(narrowed.RefreshToken, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := aud(kept.AccessToken); !slices.Equal(got, []string{billingAPI, ordersAPI}) {
		t.Errorf("refresh after a narrowing: aud %q; want the family's two", got)
	}
	if _, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantPassword, Client: cred, Form: map[string]string{"username": "ada@example.com", "password": "correct horse", "resource": "https://evil.example"}}); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("password grant, unregistered resource: got %v; want invalid_target", err)
	}
}

// TestResourceIndicatorsCodeGrant: the authorization request's resources
// are remembered with the code; the token request may narrow them.
func TestResourceIndicatorsCodeGrant(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u := h.user(t, "ada@example.com")
	web, secret := h.client(t, RegisterClient{Name: "web", Grants: []string{GrantAuthorizationCode, GrantRefreshToken, GrantImplicit},
		RedirectURIs: []string{"https://app.example/cb"}, Audiences: []string{ordersAPI, billingAPI}, FirstParty: true})
	var re *RedirectError
	if _, err := h.svc.Authorize(ctx, AuthorizeRequest{ResponseType: "code", ClientID: web.ID, Resource: adminAPI, State: "s"}, &u); !errors.As(err, &re) || re.Err.Code != "invalid_target" || !strings.Contains(re.Location(h.svc.Issuer()), "error=invalid_target") {
		t.Errorf("authorize with an unregistered resource: got %v; want a redirected invalid_target", err)
	}
	code := func(resource string) string {
		t.Helper()
		loc, err := h.svc.Approve(ctx, AuthorizeRequest{ResponseType: "code", ClientID: web.ID, Resource: resource}, u)
		if err != nil {
			t.Fatal(err)
		}
		lu, _ := url.Parse(loc)
		return lu.Query().Get("code")
	}
	exchange := func(code, resource string) (TokenResponse, error) {
		return h.svc.Token(ctx, TokenRequest{GrantType: GrantAuthorizationCode, Client: ClientCredentials{ID: web.ID, Secret: secret},
			Form: map[string]string{"code": code, "resource": resource}})
	}
	aud := func(raw string) []string {
		t.Helper()
		_, claims, err := h.svc.ValidateAccessToken(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		return claims.Audience
	}
	both := code(ordersAPI + " " + billingAPI)
	if _, err := exchange(both, adminAPI); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("exchange widening: got %v; want invalid_target", err)
	}
	tok, err := exchange(both, ordersAPI)
	if err != nil {
		t.Fatal(err)
	}
	if got := aud(tok.AccessToken); !slices.Equal(got, []string{ordersAPI}) {
		t.Errorf("narrowed exchange: aud %q", got)
	}
	// The refresh family keeps the authorization's two resources.
	rt, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantRefreshToken, Client: ClientCredentials{ID: web.ID, Secret: secret}, Form: map[string]string{"refresh_token": tok.RefreshToken}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{billingAPI, ordersAPI}, aud(rt.AccessToken)); diff != "" {
		t.Errorf("refresh after a narrowed exchange (-want +got):\n%s", diff)
	}
	// A code without resources: the token request may name registered ones.
	plain := code("")
	tok, err = exchange(plain, "")
	if err != nil || !slices.Equal(aud(tok.AccessToken), []string{web.ID}) {
		t.Errorf("exchange without resources: aud %q, %v; want the client id", aud(tok.AccessToken), err)
	}
	tok, err = exchange(code(""), billingAPI)
	if err != nil || !slices.Equal(aud(tok.AccessToken), []string{billingAPI}) {
		t.Errorf("exchange naming a resource: got %v", err)
	}
	// Implicit: the authorization request's resources are the aud.
	loc, err := h.svc.Approve(ctx, AuthorizeRequest{ResponseType: "token", ClientID: web.ID, Resource: billingAPI}, u)
	if err != nil {
		t.Fatal(err)
	}
	frag, _ := url.ParseQuery(loc[strings.Index(loc, "#")+1:])
	if got := aud(frag.Get("access_token")); !slices.Equal(got, []string{billingAPI}) {
		t.Errorf("implicit: aud %q", got)
	}
}
