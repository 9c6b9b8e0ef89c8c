package guard

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

const testIssuer = "https://stamp.test"

// fakeFeed hands the sink the guard gives it to the test, and runs until
// its context ends or the test makes it fail.
type fakeFeed struct {
	sinks chan Sink
	fail  chan error
	runs  atomic.Int32
}

func newFakeFeed() *fakeFeed {
	return &fakeFeed{sinks: make(chan Sink, 8), fail: make(chan error, 1)}
}

func (f *fakeFeed) Run(ctx context.Context, sink Sink) error {
	f.runs.Add(1)
	f.sinks <- sink
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-f.fail:
		return err
	}
}

// sink waits for the guard to run the feed and returns its sink.
func (f *fakeFeed) sink(t *testing.T) Sink {
	t.Helper()
	select {
	case s := <-f.sinks:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("the guard did not run its feed within 10s")
		return nil
	}
}

// clock is a settable clock.
type clock struct{ now atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.now.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time             { return time.Unix(0, c.now.Load()) }
func (c *clock) advance(d time.Duration)    { c.now.Add(int64(d)) }
func (c *clock) set(t time.Time)            { c.now.Store(t.UnixNano()) }
func (c *clock) unix(d time.Duration) int64 { return c.Now().Add(d).Unix() }

// jwksServer serves a JWKS of the keys it is given and counts requests.
type jwksServer struct {
	*httptest.Server
	mu       sync.Mutex
	body     []byte
	requests atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...crypto.Signer) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.serve(t, keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		body := s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve replaces the keys served.
func (s *jwksServer) serve(t *testing.T, keys ...crypto.Signer) {
	t.Helper()
	set := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: []json.RawMessage{}}
	for _, k := range keys {
		_, _, jwk, err := domain.PublicJWK(k)
		if err != nil {
			t.Fatal(err)
		}
		set.Keys = append(set.Keys, jwk)
	}
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func newKey(t testing.TB, alg string) crypto.Signer {
	t.Helper()
	k, err := domain.GenerateSigningKey(alg, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixture is a guard on a fake feed, a fake clock and a JWKS of one key.
type fixture struct {
	t     *testing.T
	g     *Guard
	feed  *fakeFeed
	sink  Sink
	clock *clock
	jwks  *jwksServer
	key   crypto.Signer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, feed: newFakeFeed(), clock: newClock(), key: newKey(t, domain.EdDSA)}
	f.jwks = newJWKSServer(t, f.key)
	g, err := New(context.Background(), Options{Issuer: testIssuer, JWKSURL: f.jwks.URL, Feed: f.feed, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	f.g = g
	f.sink = f.feed.sink(t)
	f.sink.Current(true)
	return f
}

// claims returns the claims of a valid user token, for the fixture's clock.
func (f *fixture) claims() domain.Claims {
	return domain.Claims{
		Issuer: testIssuer, Audience: domain.Audience{"client-1"}, Subject: "user-1", ClientID: "client-1", ID: "jti-1",
		IssuedAt: f.clock.unix(0), NotBefore: f.clock.unix(0), Expiry: f.clock.unix(time.Hour),
		Scopes: []string{"read"}, Scope: "read",
	}
}

// sign signs c with key (the fixture's when nil).
func (f *fixture) sign(c domain.Claims, key crypto.Signer) string {
	f.t.Helper()
	if key == nil {
		key = f.key
	}
	s, err := domain.NewTokenSigner(key)
	if err != nil {
		f.t.Fatal(err)
	}
	raw, err := s.Sign(c)
	if err != nil {
		f.t.Fatal(err)
	}
	return raw
}

// with returns the fixture's valid claims changed by fn.
func (f *fixture) with(fn func(*domain.Claims)) domain.Claims {
	c := f.claims()
	fn(&c)
	return c
}

// response is what a middleware answered.
type response struct {
	status int
	header http.Header
	body   string
	token  Token // what the handler saw
	called bool
}

// do sends a request with token ("" for none) through mw around a handler
// that records the token it was given.
func do(h func(http.Handler) http.Handler, token string) response {
	var got response
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.called = true
		got.token, _ = TokenFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
	req := httptest.NewRequest(http.MethodGet, "/resource", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h(next).ServeHTTP(rec, req)
	got.status, got.header, got.body = rec.Code, rec.Header(), strings.TrimSpace(rec.Body.String())
	return got
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
