package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestUserErasure: a user's email and name never enter the log in clear;
// the read models reveal them with the user's key, so the user logs in;
// `stamp user delete` destroys the key, after which a plain NATS client
// reading the whole stream finds neither the email, nor the name, nor the
// email's plain SHA-256, audit and events show "[erased]", and a rebuild
// of the read models, which can no longer read the user's fields, equals
// the live ones, with a server running and without.
func TestUserErasure(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "STAMP_PASSWORD_GRANT", "true")
	n := e.start()
	const email, name, password = "grace.hopper@example.test", "Grace Brewster Hopper", "correct horse battery staple"
	code, out, errOut := e.runWithStdin(password+"\n", "user", "create", "--email", email, "--name", name, "--password-stdin", "--json")
	if code != 0 {
		t.Fatalf("user create: exit %d: %s", code, errOut)
	}
	var created struct{ ID, Email, Name string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" || created.Email != email || created.Name != name {
		t.Fatalf("user create printed %q (%v); want the id, email and name", out, err)
	}
	id := created.ID
	waitFor(t, "the server to apply the new user", func() bool {
		u, err := n.Views().UserByEmail(ctx, email)
		return err == nil && u.ID == id && u.Name == name
	})

	clientID, secret := e.newClient(n, "--password", "--name", "app")
	conf := &oauth2.Config{ClientID: clientID, ClientSecret: secret, Scopes: []string{"read"},
		Endpoint: oauth2.Endpoint{TokenURL: n.HTTPURL() + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := conf.PasswordCredentialsToken(ctx, email, password)
	if err != nil {
		t.Fatalf("login by email (password grant): %v", err)
	}

	// Before the deletion, the CLI shows the fields, decrypted.
	if code, out, errOut := e.run("audit", "user", id, "--json"); code != 0 || !strings.Contains(out, email) || !strings.Contains(out, name) {
		t.Errorf("audit before deletion: exit %d, %s %s; want the email and name", code, out, errOut)
	}
	if code, out, errOut := e.run("audit", "user", id); code != 0 || !strings.Contains(out, "email "+email) {
		t.Errorf("audit before deletion: exit %d, %s %s; want the email", code, out, errOut)
	}
	if code, out, errOut := e.run("events", "--user", id, "--no-follow"); code != 0 || !strings.Contains(out, email) || strings.Contains(out, "email_sealed") {
		t.Errorf("events before deletion: exit %d, %s %s; want the email in clear", code, out, errOut)
	}

	if code, out, errOut := e.run("user", "delete", email); code != 0 || !strings.Contains(out, "erased") {
		t.Fatalf("user delete: exit %d: %s %s", code, out, errOut)
	}
	waitFor(t, "the server to apply the deletion", func() bool {
		u, err := n.Views().User(ctx, id)
		return err == nil && u.Deleted
	})
	if u, _ := n.Views().User(ctx, id); u.Email != "" || u.Name != "" {
		t.Errorf("the read model keeps the deleted user's fields: %+v", u)
	}
	if _, err := conf.PasswordCredentialsToken(ctx, email, password); err == nil {
		t.Errorf("login of the deleted user: got a token; want refused")
	}
	// Deleting again only destroys the key again; it succeeds.
	if code, out, errOut := e.run("user", "delete", id); code != 0 || !strings.Contains(out, "deleted already") {
		t.Errorf("deleting the deleted user again: exit %d: %s %s", code, out, errOut)
	}

	sum := sha256.Sum256([]byte(email))
	secrets := []string{email, name, "Grace", "Hopper", hex.EncodeToString(sum[:]), password, secret}
	secrets = append(secrets, tokenSecrets(tok.AccessToken)...)
	if read := assertNoSecretInStream(t, n, secrets...); read < 6 {
		t.Errorf("scanned %d events; want at least 6", read)
	}

	for _, args := range [][]string{{"audit", "user", id, "--json"}, {"events", "--user", id, "--no-follow"}, {"user", "list", "--all", "--json"}} {
		code, out, errOut := e.run(args...)
		if code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
			continue
		}
		if strings.Contains(out, email) || strings.Contains(out, "Grace") {
			t.Errorf("%v shows the erased user's fields: %s", args, out)
		}
		if args[0] != "user" && !strings.Contains(out, `"email":"[erased]"`) {
			t.Errorf("%v: %s; want the email shown as [erased]", args, out)
		}
	}

	if code, out, errOut := e.run("audit", "user", id); code != 0 || !strings.Contains(out, "email [erased]") || !strings.Contains(out, "deleted") {
		t.Errorf("audit user: exit %d: %s %s; want the user deleted, email [erased]", code, out, errOut)
	}

	// A rebuild cannot read the user's fields any more, and gives the
	// live read models' checksum: with the server running, then without.
	code, out, errOut = e.run("replay")
	if code != 0 {
		t.Fatalf("stamp replay with a server: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := parseReplay(t, out); got.live == "" || got.live != got.rebuilt || got.checksum != got.rebuilt {
		t.Errorf("stamp replay with a server: live %s, rebuilt %s; want equal", got.live, got.rebuilt)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = e.run("replay")
	if code != 0 {
		t.Fatalf("stamp replay without a server: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := parseReplay(t, out); got.live == "" || got.live != got.rebuilt {
		t.Errorf("stamp replay without a server: live %s, rebuilt %s; want equal", got.live, got.rebuilt)
	}
}
