package httpapi

import (
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestOptionsValidate(t *testing.T) {
	key := testSessionKey
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
	}{
		{name: "minimal", opts: Options{Issuer: testIssuer, SessionKey: key}},
		{name: "http with path and slash", opts: Options{Issuer: "http://localhost:8080/auth/", SessionKey: key}},
		{name: "no issuer", opts: Options{SessionKey: key}, wantErr: true},
		{name: "relative issuer", opts: Options{Issuer: "/auth", SessionKey: key}, wantErr: true},
		{name: "other scheme", opts: Options{Issuer: "ftp://auth.example.com", SessionKey: key}, wantErr: true},
		{name: "issuer with query", opts: Options{Issuer: testIssuer + "?a=b", SessionKey: key}, wantErr: true},
		{name: "issuer with fragment", opts: Options{Issuer: testIssuer + "#x", SessionKey: key}, wantErr: true},
		{name: "issuer with empty query", opts: Options{Issuer: testIssuer + "?", SessionKey: key}, wantErr: true},
		{name: "empty grant type", opts: Options{Issuer: testIssuer, SessionKey: key, GrantTypes: []string{""}}, wantErr: true},
		{name: "negative body limit", opts: Options{Issuer: testIssuer, SessionKey: key, MaxBodyBytes: -1}, wantErr: true},
		{name: "no session key", opts: Options{Issuer: testIssuer}, wantErr: true},
		{name: "short session key", opts: Options{Issuer: testIssuer, SessionKey: key[:MinSessionKeyBytes-1]}, wantErr: true},
		{name: "negative session lifetime", opts: Options{Issuer: testIssuer, SessionKey: key, SessionLifetime: -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate: got %v; want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			d := tt.opts.withDefaults()
			if d.MaxBodyBytes != DefaultMaxBodyBytes || d.Logger == nil || d.Now == nil || d.SessionLifetime != DefaultSessionLifetime {
				t.Errorf("defaults: got %+v; want body limit %v, session lifetime %v, a logger and a clock",
					d, DefaultMaxBodyBytes, DefaultSessionLifetime)
			}
			if err := d.Validate(); err != nil {
				t.Errorf("Validate of the defaults: %v", err)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	complete := func() Deps {
		tokens := newFakeTokens()
		return Deps{
			Service: &fakeService{scopes: mustScopes(t)}, Keys: fakeKeys{}, Web: &fakeWeb{}, Users: newFakeUsers(),
			API: newFakeAPI(tokens), Validator: tokens,
		}
	}
	opts := Options{Issuer: testIssuer, SessionKey: testSessionKey}
	if _, err := New(complete(), opts); err != nil {
		t.Fatalf("New with every dependency: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Deps, *Options)
	}{
		{name: "no service", edit: func(d *Deps, _ *Options) { d.Service = nil }},
		{name: "no key lister", edit: func(d *Deps, _ *Options) { d.Keys = nil }},
		{name: "no web service", edit: func(d *Deps, _ *Options) { d.Web = nil }},
		{name: "no user reader", edit: func(d *Deps, _ *Options) { d.Users = nil }},
		{name: "no API service", edit: func(d *Deps, _ *Options) { d.API = nil }},
		{name: "no validator", edit: func(d *Deps, _ *Options) { d.Validator = nil }},
		{name: "nil scope catalogue", edit: func(d *Deps, _ *Options) { d.Service = &fakeService{} }},
		{name: "invalid options", edit: func(_ *Deps, o *Options) { o.Issuer = "" }},
		{name: "no session key", edit: func(_ *Deps, o *Options) { o.SessionKey = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, o := complete(), opts
			tt.edit(&d, &o)
			if _, err := New(d, o); err == nil {
				t.Errorf("New: got nil error; want one")
			}
		})
	}
}

func TestRoutingAnswers(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		status    int
		body      string // the JSON error code, or the whole body for health
		wantAllow string
	}{
		{name: "health", method: http.MethodGet, path: pathHealth, status: 200, body: `{"status":"ok"}` + "\n"},
		{name: "unknown path", method: http.MethodGet, path: "/nope", status: 404, body: "not_found"},
		{name: "token by GET", method: http.MethodGet, path: pathToken, status: 405, body: "method_not_allowed", wantAllow: "POST"},
		{name: "jwks by POST", method: http.MethodPost, path: pathJWKS, status: 405, body: "method_not_allowed", wantAllow: "GET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, &fakeService{}, nil, Options{})
			rec := h.do(httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status {
				t.Errorf("status: got %v; want %v", rec.Code, tt.status)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type: got %q; want %q", got, "application/json")
			}
			if tt.status == http.StatusOK {
				if got := rec.Body.String(); got != tt.body {
					t.Errorf("body: got %q; want %q", got, tt.body)
				}
			} else if got := decodeJSON[errorBody](t, rec).Error; got != tt.body {
				t.Errorf("error: got %v; want %v", got, tt.body)
			}
			if got := rec.Header().Get("Allow"); !strings.Contains(got, tt.wantAllow) {
				t.Errorf("Allow: got %q; want it to contain %q", got, tt.wantAllow)
			}
		})
	}
}

func TestPanicAnswersServerError(t *testing.T) {
	h := newHarness(t, &fakeService{panicWith: "nil map write in grant"}, nil, Options{})
	rec := h.do(formPost(pathToken, "grant_type=client_credentials"))

	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status: got %v; want %v", rec.Code, http.StatusInternalServerError)
	}
	want := errorBody{Error: "server_error", Description: genericServerError}
	if diff := cmp.Diff(want, decodeJSON[errorBody](t, rec)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	lines := h.logLines()
	if len(lines) != 1 {
		t.Fatalf("log records: got %v; want %v (%q)", len(lines), 1, lines)
	}
	for _, part := range []string{"nil map write in grant", `"stack"`, `"path":"/oauth/token"`} {
		if !strings.Contains(lines[0], part) {
			t.Errorf("log record %s: missing %s", lines[0], part)
		}
	}
}

// TestPanicAbortHandler: http.ErrAbortHandler keeps its net/http meaning
// (abort the response, log nothing).
func TestPanicAbortHandler(t *testing.T) {
	h := newHarness(t, &fakeService{panicWith: http.ErrAbortHandler}, nil, Options{})
	defer func() {
		if got := recover(); got != http.ErrAbortHandler {
			t.Errorf("recovered: got %v; want %v", got, http.ErrAbortHandler)
		}
		if got := len(h.logLines()); got != 0 {
			t.Errorf("log records: got %v; want %v", got, 0)
		}
	}()
	h.do(formPost(pathToken, "grant_type=client_credentials"))
}

// TestImports keeps the adapter an adapter: it may import domain, its own
// HTTP technology and the standard library, never another part of stamp
// (DESIGN.md, layout; STYLE.md rule 1).
func TestImports(t *testing.T) {
	allowed := []string{
		"github.com/stamp-oauth/stamp/domain",
		"github.com/julienschmidt/httprouter",
		"github.com/go-jose/go-jose/v4",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if !strings.Contains(first, ".") {
				continue // standard library
			}
			ok := false
			for _, a := range allowed {
				ok = ok || path == a || strings.HasPrefix(path, a+"/")
			}
			if !ok {
				t.Errorf("%s imports %s; want only domain, httprouter, go-jose and the standard library", name, path)
			}
		}
	}
}
