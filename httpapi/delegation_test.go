package httpapi

import (
	"strings"
	"testing"
)

// TestDelegationOptions: a login or consent URL must be an absolute
// http(s) URL, and needs the delegation service and the admin API.
func TestDelegationOptions(t *testing.T) {
	base := Options{Issuer: testIssuer, SessionKey: testSessionKey}
	for _, tc := range []struct {
		login, consent string
		ok             bool
	}{
		{"", "", true},
		{"https://app.example/login", "http://app.example/consent?x=1", true},
		{"ftp://app.example/login", "", false},
		{"/login", "", false},
		{"", "https://app.example/consent#frag", false},
	} {
		o := base
		o.LoginURL, o.ConsentURL = tc.login, tc.consent
		if err := o.Validate(); (err == nil) != tc.ok {
			t.Errorf("login %q consent %q: got %v; want ok %t", tc.login, tc.consent, err, tc.ok)
		}
	}
	o := base
	o.LoginURL = "https://app.example/login"
	if _, err := New(Deps{Service: &fakeService{scopes: mustScopes(t)}, Keys: fakeKeys{}, Web: &fakeWeb{}, Users: newFakeUsers(testUser),
		API: newFakeAPI(newFakeTokens()), Validator: newFakeTokens()}, o); err == nil || !strings.Contains(err.Error(), "delegation") {
		t.Errorf("a login URL without the delegation service: got %v; want an error", err)
	}
}

func TestWithChallenge(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{"https://app.example/login", "https://app.example/login?login_challenge=a%2Bb"},
		{"https://app.example/login?tenant=1", "https://app.example/login?tenant=1&login_challenge=a%2Bb"},
	} {
		if got := withChallenge(tc.base, "login_challenge", "a+b"); got != tc.want {
			t.Errorf("withChallenge(%q): got %q; want %q", tc.base, got, tc.want)
		}
	}
}
