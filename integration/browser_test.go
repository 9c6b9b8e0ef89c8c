package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// browser drives the node's pages over real HTTP as a browser without
// JavaScript would: a cookie jar, forms posted as they are, and redirects
// followed while they stay on the node. A redirect elsewhere (to a
// client's redirect URI) is not followed: the page returned is that
// redirect, for the test to read.
type browser struct {
	t      *testing.T
	base   *url.URL
	client *http.Client
}

func newBrowser(t *testing.T, n *app.Node) *browser {
	t.Helper()
	base, err := url.Parse(n.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, client: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != base.Host {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

// page is an answer as the browser received it, after the redirects it
// followed.
type page struct {
	status int
	url    *url.URL // where the answer came from
	header http.Header
	body   string
}

// get loads target, a URL or a path on the node.
func (b *browser) get(target string) page {
	b.t.Helper()
	return b.do(http.MethodGet, target, nil)
}

// post submits form to target, a URL or a path on the node, as an HTML
// form does.
func (b *browser) post(target string, form url.Values) page {
	b.t.Helper()
	return b.do(http.MethodPost, target, form)
}

func (b *browser) do(method, target string, form url.Values) page {
	b.t.Helper()
	u, err := b.base.Parse(target)
	if err != nil {
		b.t.Fatal(err)
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u.String(), body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, url: resp.Request.URL, header: resp.Header, body: string(text)}
}

// redirectTo checks that p redirects with status to a URL starting with
// prefix (a client's redirect URI) and returns the parameters of the
// redirect's query, or of its fragment when fragment is set.
func (p page) redirectTo(t *testing.T, status int, prefix string, fragment bool) url.Values {
	t.Helper()
	loc := p.header.Get("Location")
	if p.status != status || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("got %d to %q (from %s, body %.300q); want %d to %s…", p.status, loc, p.url, p.body, status, prefix)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	raw := u.RawQuery
	if fragment {
		raw = u.EscapedFragment()
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatalf("redirect %q: %v", loc, err)
	}
	return v
}

// htmlForm is a form of a page: where it posts and its hidden fields.
type htmlForm struct {
	action string
	fields url.Values
}

var (
	formRE   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// form returns the form of p that posts to action and, when method is
// not empty, overrides the method with _method (the approval screen's
// deny form). It fails the test when there is none.
func (p page) form(t *testing.T, action, method string) htmlForm {
	t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(p.body, -1) {
		f := htmlForm{action: html.UnescapeString(m[1]), fields: url.Values{}}
		for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
			f.fields.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		if f.action == action && f.fields.Get("_method") == method {
			return f
		}
	}
	t.Fatalf("no form posting to %s (_method %q) on %s (%d): %.500q", action, method, p.url, p.status, p.body)
	return htmlForm{}
}

// login fills in and posts the login form p shows, and returns where the
// login led (the page it was interrupting).
func (b *browser) login(p page, email, password string) page {
	b.t.Helper()
	if p.status != http.StatusOK || p.url.Path != "/login" {
		b.t.Fatalf("got %d at %s; want the login form", p.status, p.url)
	}
	f := p.form(b.t, "/login", "")
	f.fields.Set("email", email)
	f.fields.Set("password", password)
	return b.post(f.action, f.fields)
}

// runWithStdin is run with stdin as the command's standard input.
func (e *env) runWithStdin(stdin string, args ...string) (int, string, string) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := app.Main(ctx, args, app.IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, Getenv: e.getenv})
	return code, out.String(), errOut.String()
}

// createUser registers a user through the CLI, the password on standard
// input, and waits until n's read models know it. It returns the user's id.
func (e *env) createUser(n *app.Node, email, password string) string {
	e.t.Helper()
	code, out, errOut := e.runWithStdin(password+"\n", "user", "create", "--email", email, "--password-stdin", "--json")
	if code != 0 {
		e.t.Fatalf("user create: exit %d: %s", code, errOut)
	}
	var u struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &u); err != nil || u.ID == "" {
		e.t.Fatalf("user create printed %q (%v); want JSON with an id", out, err)
	}
	waitFor(e.t, "the server to apply the new user", func() bool {
		got, err := n.Views().User(context.Background(), u.ID)
		return err == nil && got.Exists()
	})
	return u.ID
}

// newClient registers a client through the CLI with args (a type, a
// name, redirect URIs…), and waits until n's read models know it. The
// secret is empty for a public client.
func (e *env) newClient(n *app.Node, args ...string) (id, secret string) {
	e.t.Helper()
	code, out, errOut := e.run(append([]string{"client", "create", "--json"}, args...)...)
	if code != 0 {
		e.t.Fatalf("client create %v: exit %d: %s", args, code, errOut)
	}
	var got struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.ClientID == "" {
		e.t.Fatalf("client create printed %q (%v); want JSON with an id", out, err)
	}
	e.awaitClient(n, got.ClientID)
	return got.ClientID, got.ClientSecret
}

// awaitClient waits until n's read models know the client id.
func (e *env) awaitClient(n *app.Node, id string) {
	e.t.Helper()
	waitFor(e.t, "the server to apply client "+id, func() bool {
		c, err := n.Views().Client(context.Background(), id)
		return err == nil && c.Exists()
	})
}

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// with returns e for use by t (a subtest): helpers report to t.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// with returns b for use by t (a subtest), sharing its cookies.
func (b *browser) with(t *testing.T) *browser {
	c := *b
	c.t = t
	return &c
}
