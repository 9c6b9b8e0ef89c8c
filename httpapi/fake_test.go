package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// The real service is what cmd wires in: it must keep satisfying every
// service-side port, and any users read model (domain.UserReader) Users.
var (
	_ Service = (*domain.Service)(nil)
	_ Web     = (*domain.Service)(nil)
	_ Users   = (domain.UserReader)(nil)
)

// fakeService is a hand-written Service: it records what each call
// received and answers with the canned values, or err when set.
type fakeService struct {
	scopes        *domain.Scopes
	tokenResp     domain.TokenResponse
	introspection domain.Introspection
	err           error
	panicWith     any // when set, Token panics with it

	calls    int
	tokenReq domain.TokenRequest
	caller   domain.ClientCredentials
	token    string
	hint     string
}

func (f *fakeService) Token(_ context.Context, req domain.TokenRequest) (domain.TokenResponse, error) {
	f.calls++
	f.tokenReq = req
	if f.panicWith != nil {
		panic(f.panicWith)
	}
	return f.tokenResp, f.err
}

func (f *fakeService) Introspect(_ context.Context, caller domain.ClientCredentials, token string) (domain.Introspection, error) {
	f.calls++
	f.caller, f.token = caller, token
	return f.introspection, f.err
}

func (f *fakeService) Revoke(_ context.Context, caller domain.ClientCredentials, token, hint string) error {
	f.calls++
	f.caller, f.token, f.hint = caller, token, hint
	return f.err
}

func (f *fakeService) Scopes() *domain.Scopes { return f.scopes }

// fakeKeys is a hand-written KeyLister.
type fakeKeys struct {
	keys []domain.SigningKey
	err  error
}

func (f fakeKeys) SigningKeys(context.Context) ([]domain.SigningKey, error) { return f.keys, f.err }

const testIssuer = "https://auth.example.com"

// testNow is the clock of every test server.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func mustScopes(t testing.TB, list ...domain.Scope) *domain.Scopes {
	t.Helper()
	s, err := domain.NewScopes(list, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// testSessionKey signs the test servers' session cookies.
var testSessionKey = []byte("0123456789abcdef0123456789abcdef")

// harness is a server under test with its fakes and the log it writes.
type harness struct {
	handler http.Handler
	svc     *fakeService
	web     *fakeWeb
	users   *fakeUsers
	api     *fakeAPI
	tokens  *fakeTokens
	logs    *bytes.Buffer
}

// newHarness builds a server over svc and keys (nil means a fakeKeys
// without keys), a fakeWeb and fakeUsers knowing testUser; opts gets the
// test issuer, clock and session key unless set, and a JSON logger the
// harness reads.
func newHarness(t *testing.T, svc *fakeService, keys KeyLister, opts Options) harness {
	t.Helper()
	if svc.scopes == nil {
		svc.scopes = mustScopes(t)
	}
	return newHarnessWith(t, Deps{Service: svc, Keys: keys}, opts)
}

// newHarnessWith is newHarness with every dependency given; nil ones get
// the same defaults (a fakeTokens validator, and a fakeAPI issuing its
// cookie tokens into it).
func newHarnessWith(t *testing.T, deps Deps, opts Options) harness {
	t.Helper()
	if deps.Service == nil {
		deps.Service = &fakeService{scopes: mustScopes(t)}
	}
	if deps.Keys == nil {
		deps.Keys = fakeKeys{}
	}
	if deps.Web == nil {
		deps.Web = &fakeWeb{}
	}
	if deps.Users == nil {
		deps.Users = newFakeUsers(testUser)
	}
	if deps.Validator == nil {
		deps.Validator = newFakeTokens()
	}
	if deps.API == nil {
		tokens, _ := deps.Validator.(*fakeTokens)
		deps.API = newFakeAPI(tokens)
	}
	if opts.Issuer == "" {
		opts.Issuer = testIssuer
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	if opts.SessionKey == nil {
		opts.SessionKey = testSessionKey
	}
	logs := &bytes.Buffer{}
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	h, err := New(deps, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	svc, _ := deps.Service.(*fakeService)
	web, _ := deps.Web.(*fakeWeb)
	users, _ := deps.Users.(*fakeUsers)
	api, _ := deps.API.(*fakeAPI)
	tokens, _ := deps.Validator.(*fakeTokens)
	return harness{handler: h, svc: svc, web: web, users: users, api: api, tokens: tokens, logs: logs}
}

func (h harness) do(r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.handler.ServeHTTP(rec, r)
	return rec
}

// logLines returns the log records written so far, one per line.
func (h harness) logLines() []string {
	s := strings.TrimSpace(h.logs.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// formPost returns a POST of a form-encoded body to path.
func formPost(path, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", formContentType)
	return r
}

// decodeJSON decodes the body of rec into a value of type T.
func decodeJSON[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", rec.Body.String(), err)
	}
	return v
}
