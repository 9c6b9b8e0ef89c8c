package httpapi

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// testRemote is the address every browser request comes from.
const testRemote = "192.0.2.7"

// browser drives a handler as a browser without JavaScript would: a
// cookie jar, form posts, and redirects followed by hand so tests can
// look at each one. Requests go to testIssuer and are served in the
// test's goroutine.
type browser struct {
	t      *testing.T
	client *http.Client
	header http.Header // added to every request
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, header: http.Header{}}
	b.client = &http.Client{
		Jar:           jar,
		Transport:     handlerTransport{h},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return b
}

// handlerTransport serves a client's request with a handler, as a server
// would receive it.
type handlerTransport struct{ h http.Handler }

func (tr handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RemoteAddr = testRemote + ":50123"
	in.RequestURI = req.URL.RequestURI()
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	tr.h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

// page is an answer as the browser received it.
type page struct {
	status int
	header http.Header
	body   string
}

func (p page) location() string { return p.header.Get("Location") }

func (b *browser) do(method, target string, form url.Values) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	u, err := url.Parse(testIssuer)
	if err != nil {
		b.t.Fatal(err)
	}
	ref, err := url.Parse(target)
	if err != nil {
		b.t.Fatalf("target %q: %v", target, err)
	}
	req, err := http.NewRequest(method, u.ResolveReference(ref).String(), body)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, vs := range b.header {
		req.Header[k] = vs
	}
	if form != nil {
		req.Header.Set("Content-Type", formContentType)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func (b *browser) get(target string) page { b.t.Helper(); return b.do(http.MethodGet, target, nil) }

func (b *browser) post(target string, form url.Values) page {
	b.t.Helper()
	return b.do(http.MethodPost, target, form)
}

// follow GETs the Location of p, which must be a redirect on this server.
func (b *browser) follow(p page) page {
	b.t.Helper()
	loc := p.location()
	if p.status/100 != 3 || !strings.HasPrefix(loc, "/") {
		b.t.Fatalf("follow: status %d, Location %q; want a local redirect (body %s)", p.status, loc, p.body)
	}
	return b.get(loc)
}

// submit posts f with its hidden fields plus extra (which override).
func (b *browser) submit(f htmlForm, extra url.Values) page {
	b.t.Helper()
	v := url.Values{}
	for k, vs := range f.fields {
		v[k] = append([]string(nil), vs...)
	}
	for k, vs := range extra {
		v[k] = vs
	}
	return b.post(f.action, v)
}

// login submits the login form of loginPage as testUser and returns the
// answer.
func (b *browser) login(loginPage page) page {
	b.t.Helper()
	f := mustForm(b.t, loginPage, "/login", "")
	return b.submit(f, url.Values{"email": {testUser.Email}, "password": {testPassword}})
}

// htmlForm is a <form method="post"> of our own markup: its action and
// hidden fields.
type htmlForm struct {
	action string
	fields url.Values
}

var (
	formRE   = regexp.MustCompile(`(?s)<form method="post" action="([^"]*)">(.*?)</form>`)
	hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// forms returns the post forms of body, in order.
func forms(body string) []htmlForm {
	var out []htmlForm
	for _, m := range formRE.FindAllStringSubmatch(body, -1) {
		f := htmlForm{action: html.UnescapeString(m[1]), fields: url.Values{}}
		for _, h := range hiddenRE.FindAllStringSubmatch(m[2], -1) {
			f.fields.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		out = append(out, f)
	}
	return out
}

// mustForm returns the form of p posting to action whose _method is
// method ("" for none).
func mustForm(t *testing.T, p page, action, method string) htmlForm {
	t.Helper()
	for _, f := range forms(p.body) {
		if f.action == action && f.fields.Get("_method") == method {
			return f
		}
	}
	t.Fatalf("no form to %s (_method %q) in page %d:\n%s", action, method, p.status, p.body)
	return htmlForm{}
}

// inputValue returns the value attribute of the input named name.
func inputValue(t *testing.T, body, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<input [^>]*name="` + regexp.QuoteMeta(name) + `"[^>]* value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no input %q in:\n%s", name, body)
	}
	return html.UnescapeString(m[1])
}

// sessionCookieOf returns the Set-Cookie of the session in p, or nil.
func sessionCookieOf(p page) *http.Cookie {
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	return nil
}

// wantStatus fails the test unless p has status want.
func wantStatus(t *testing.T, p page, want int) {
	t.Helper()
	if p.status != want {
		t.Fatalf("status: got %v; want %v (Location %q, body %s)", p.status, want, p.location(), p.body)
	}
}
