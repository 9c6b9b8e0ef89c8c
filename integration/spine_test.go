package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2/clientcredentials"
)

// TestClientCredentialsEndToEnd is issue "The spine"'s done-when, run
// against the real program: a client created with the CLI gets a token
// through golang.org/x/oauth2; the token verifies against the JWKS;
// introspection says active; /oauth/revoke makes it inactive at once;
// after a restart everything is as it was and nothing was applied twice.
func TestClientCredentialsEndToEnd(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n := e.start()
	clientID, secret := e.createClient(n, "billing")
	callerID, callerSecret := e.createClient(n, "gateway")

	cc := clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: n.HTTPURL() + "/oauth/token", Scopes: []string{"read", "write"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("token through x/oauth2: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.Expiry.IsZero() || tok.RefreshToken != "" {
		t.Errorf("got %+v; want a Bearer token with an expiry and no refresh token", tok)
	}

	// The token verifies against the JWKS, with the claims of DESIGN.md.
	var jwks jose.JSONWebKeySet
	getJSON(t, n.HTTPURL()+"/.well-known/jwks.json", &jwks)
	parsed, err := jwt.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	keys := jwks.Key(parsed.Headers[0].KeyID)
	if len(keys) != 1 {
		t.Fatalf("the JWKS has %d keys with kid %q; want 1", len(keys), parsed.Headers[0].KeyID)
	}
	if typ := parsed.Headers[0].ExtraHeaders["typ"]; typ != "at+jwt" {
		t.Errorf("got typ %v; want at+jwt", typ)
	}
	var claims map[string]any
	if err := parsed.Claims(keys[0].Key, &claims); err != nil {
		t.Fatalf("the token does not verify against the JWKS: %v", err)
	}
	for k, want := range map[string]any{"iss": "http://stamp.test", "aud": clientID, "sub": clientID, "client_id": clientID, "scope": "read write"} {
		if claims[k] != want {
			t.Errorf("claim %s: got %v; want %v", k, claims[k], want)
		}
	}
	for _, k := range []string{"jti", "iat", "nbf", "exp", "scopes"} {
		if claims[k] == nil {
			t.Errorf("claim %s is missing", k)
		}
	}

	// Metadata points at the endpoints.
	var meta map[string]any
	getJSON(t, n.HTTPURL()+"/.well-known/oauth-authorization-server", &meta)
	if meta["issuer"] != "http://stamp.test" || meta["token_endpoint"] != "http://stamp.test/oauth/token" {
		t.Errorf("got metadata %v", meta)
	}

	if got := introspect(t, n, callerID, callerSecret, tok.AccessToken); got["active"] != true || got["client_id"] != clientID {
		t.Fatalf("introspection before revoke: got %v; want active", got)
	}
	status, _, body := postForm(t, n.HTTPURL()+"/oauth/revoke", clientID, secret, url.Values{"token": {tok.AccessToken}})
	if status != http.StatusOK {
		t.Fatalf("revoke: %d %s", status, body)
	}
	// No polling: the revocation holds the moment /oauth/revoke returns.
	if got := introspect(t, n, callerID, callerSecret, tok.AccessToken); got["active"] != false || len(got) != 1 {
		t.Fatalf("introspection right after revoke: got %v; want only active=false", got)
	}
	tok2, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Anyone who reads the stream sees ids and hashes, never a secret or a
	// token.
	secrets := []string{secret, callerSecret}
	secrets = append(secrets, tokenSecrets(tok.AccessToken)...)
	secrets = append(secrets, tokenSecrets(tok2.AccessToken)...)
	if read := assertNoSecretInStream(t, n, secrets...); read < 6 {
		t.Errorf("scanned %d events; want at least 6 (key, 2 clients, 2 tokens, 1 revocation)", read)
	}

	// Restart on the same data directory.
	lastSeq, err := n.Store().LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := n.Views().Checksum()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	n = e.start()
	if got, _ := n.Store().LastSeq(ctx); got != lastSeq {
		t.Errorf("after restart the log ends at %d; want %d (a restart appends nothing)", got, lastSeq)
	}
	if got, _ := n.Views().Checksum(); got != sum {
		t.Errorf("after restart the read models' checksum is %s; want %s (nothing applied twice)", got, sum)
	}
	if got := introspect(t, n, callerID, callerSecret, tok.AccessToken); got["active"] != false {
		t.Errorf("the revoked token after restart: got %v; want inactive", got)
	}
	if got := introspect(t, n, callerID, callerSecret, tok2.AccessToken); got["active"] != true {
		t.Errorf("the live token after restart: got %v; want active", got)
	}
	cc.TokenURL = n.HTTPURL() + "/oauth/token"
	if _, err := cc.Token(ctx); err != nil {
		t.Errorf("the client after restart: %v", err)
	}
	code, out, _ := e.run("client", "list")
	if code != 0 || !strings.Contains(out, clientID) || !strings.Contains(out, "billing") {
		t.Errorf("client list after restart: exit %d, %q; want the client", code, out)
	}
}

// TestOAuthErrors checks RFC 6749 §5.2 answers from the running server.
func TestOAuthErrors(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	clientID, secret := e.createClient(n, "billing")
	tokenURL := n.HTTPURL() + "/oauth/token"

	tests := []struct {
		name         string
		id, secret   string
		form         url.Values
		status       int
		code         string
		wwwAuthBasic bool
	}{
		{"wrong secret by Basic", clientID, "nope", url.Values{"grant_type": {"client_credentials"}}, 401, "invalid_client", true},
		{"unknown grant", clientID, secret, url.Values{"grant_type": {"magic"}}, 400, "unsupported_grant_type", false},
		{"unknown scope", clientID, secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"root"}}, 400, "invalid_scope", false},
		{"no grant type", clientID, secret, url.Values{}, 400, "invalid_request", false},
		{"wrong secret by form", "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {"nope"}}, 401, "invalid_client", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, h, body := postForm(t, tokenURL, tt.id, tt.secret, tt.form)
			var got struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if status != tt.status || got.Error != tt.code {
				t.Errorf("got %d %s; want %d %s", status, got.Error, tt.status, tt.code)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Errorf("got Cache-Control %q; want no-store", h.Get("Cache-Control"))
			}
			if tt.wwwAuthBasic && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("got WWW-Authenticate %q; want Basic", h.Get("WWW-Authenticate"))
			}
		})
	}
	// Client authentication by form fields works too.
	status, _, body := postForm(t, tokenURL, "", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}})
	if status != http.StatusOK {
		t.Errorf("form authentication: got %d %s; want 200", status, body)
	}
	_ = time.Second
}
