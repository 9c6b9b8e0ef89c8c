// Package guardtest lets an application test its routes protected by
// package guard without running stamp (Passport's actingAs): New makes a
// throwaway signing key, serves its JWKS from an httptest server, builds a
// guard.Guard on it with an in-memory revocation Feed, and mints tokens
// that guard accepts.
//
//	func TestOrders(t *testing.T) {
//		a := guardtest.New(t)
//		srv := httptest.NewServer(routes(a.Guard))
//		defer srv.Close()
//		req, _ := http.NewRequest("GET", srv.URL+"/orders", nil)
//		a.ActingAs(req, "user-1", "orders:read")
//		... // 200
//		a.Feed.DeleteUser("user-1")
//		... // 401
//	}
//
// The package imports guard, domain and the standard library only: no
// NATS, no event store. Tokens are signed exactly as stamp signs them (an
// RFC 9068 at+jwt with Passport's scopes), so what passes here passes
// against a real server with the same issuer, audience and scopes.
package guardtest

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/httpapi/guard"
)

// Defaults of an Authority.
const (
	// DefaultIssuer is the iss of the tokens and the guard's Issuer.
	DefaultIssuer = "https://stamp.guardtest.invalid"
	// DefaultClientID is the client ActingAs tokens are issued to.
	DefaultClientID = "guardtest-client"
	// DefaultExpiry is the lifetime of a minted token.
	DefaultExpiry = time.Hour
)

// readyTimeout bounds how long New waits for the guard to take its feed.
const readyTimeout = 10 * time.Second

// config is what Options set.
type config struct {
	issuer, audience, client string
	expiry                   time.Duration
	now                      func() time.Time
	guardOpts                []func(*guard.Options)
}

// Option changes a default of New.
type Option func(*config)

// WithIssuer sets the issuer of the tokens and of the guard.
func WithIssuer(issuer string) Option { return func(c *config) { c.issuer = issuer } }

// WithAudience makes the guard demand aud (guard.Options.Audience) and
// the minted tokens carry it, as tokens requested with resource=aud do.
func WithAudience(aud string) Option { return func(c *config) { c.audience = aud } }

// WithClient sets the client ActingAs tokens are issued to.
func WithClient(id string) Option { return func(c *config) { c.client = id } }

// WithExpiry sets the lifetime of minted tokens.
func WithExpiry(d time.Duration) Option { return func(c *config) { c.expiry = d } }

// WithClock sets the clock of both the minting and the guard.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithGuardOptions changes the guard.Options New builds its guard with
// (for example its Leeway or Logger), after the defaults are set.
func WithGuardOptions(fn func(*guard.Options)) Option {
	return func(c *config) { c.guardOpts = append(c.guardOpts, fn) }
}

// Authority is a throwaway stand-in for stamp: a key, its JWKS, a feed and
// a guard that trusts them.
type Authority struct {
	// Guard accepts the tokens the Authority mints; it is closed when the
	// test ends.
	Guard *guard.Guard
	// Feed revokes tokens, clients and users for Guard (and for every other
	// guard built with Options).
	Feed *Feed
	// JWKSURL serves the public key.
	JWKSURL string

	t      testing.TB
	cfg    config
	key    crypto.Signer
	signer *domain.TokenSigner
	seq    atomic.Uint64
}

// New returns an Authority whose Guard is current, failing the test when
// it cannot; everything it starts stops when the test ends.
func New(t testing.TB, opts ...Option) *Authority {
	t.Helper()
	a, err := newAuthority(opts)
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	a.t = t
	jwks, err := a.jwks()
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(srv.Close)
	a.JWKSURL = srv.URL + "/.well-known/jwks.json"

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	g, err := guard.New(ctx, a.Options())
	if err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	t.Cleanup(g.Close)
	if err := g.WaitCurrent(ctx); err != nil {
		t.Fatalf("guardtest: %v", err)
	}
	a.Guard = g
	return a
}

func newAuthority(opts []Option) (*Authority, error) {
	cfg := config{issuer: DefaultIssuer, client: DefaultClientID, expiry: DefaultExpiry, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	key, err := domain.GenerateSigningKey(domain.EdDSA, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make a signing key: %w", err)
	}
	signer, err := domain.NewTokenSigner(key)
	if err != nil {
		return nil, fmt.Errorf("make a token signer: %w", err)
	}
	return &Authority{Feed: NewFeed(), cfg: cfg, key: key, signer: signer}, nil
}

// jwks returns the JWKS document of the Authority's key.
func (a *Authority) jwks() ([]byte, error) {
	_, _, jwk, err := domain.PublicJWK(a.key)
	if err != nil {
		return nil, fmt.Errorf("encode the public key: %w", err)
	}
	return json.Marshal(map[string][]json.RawMessage{"keys": {jwk}})
}

// Options returns the guard.Options of Guard, for a test that builds a
// guard of its own (guard.New) on the same key and Feed.
func (a *Authority) Options() guard.Options {
	o := guard.Options{Issuer: a.cfg.issuer, JWKSURL: a.JWKSURL, Feed: a.Feed, Audience: a.cfg.audience, Now: a.cfg.now}
	for _, fn := range a.cfg.guardOpts {
		fn(&o)
	}
	return o
}

// Issuer returns the iss of the minted tokens.
func (a *Authority) Issuer() string { return a.cfg.issuer }
