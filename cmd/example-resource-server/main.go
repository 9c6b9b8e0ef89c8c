// Command example-resource-server is a Go API protected by stamp: it
// validates access tokens locally with the keys of stamp's JWKS and learns
// revocations (revoked tokens, deleted clients, deleted users) from stamp's
// event stream on NATS, so it never calls stamp per request.
//
//	go run ./cmd/example-resource-server \
//	  --issuer https://auth.example.com \
//	  --jwks-url https://auth.example.com/.well-known/jwks.json \
//	  --nats-url nats://127.0.0.1:4222 --addr 127.0.0.1:8081 \
//	  --nats-nkey revocations.nk
//
// where revocations.nk is the seed of stamp's revocations identity
// (stamp nats credentials --role revocations > revocations.nk; chmod 600).
//
// Its routes, one per Passport middleware:
//
//	GET /public    no token needed
//	GET /me        g.Auth: any valid token (auth:api)
//	GET /orders    g.Scopes("orders:read"): a token with the scope (scopes:orders:read)
//	GET /admin     g.Scope("admin", "*"): a token with either (scope:admin,*)
//	GET /machine   g.Client(): a client-credentials token (client)
//	GET /healthz   200 while revocations are current, else 503
//	GET /metrics   Prometheus metrics: the guard's (g.Collector()), Go's and the process's
//
// The wiring, in short:
//
//	feed, err := eventstore.OpenRevocationFeed(ctx, eventstore.Options{URL: natsURL, NkeySeedFile: seedFile}, maxTokenLifetime)
//	g, err := guard.New(ctx, guard.Options{Issuer: issuer, JWKSURL: jwksURL, Feed: feed})
//	mux.Handle("GET /orders", g.Scopes("orders:read")(orders))
//
// The feed connects read-only: it never creates, changes or appends to
// the stream, so the NATS user needs only to look the STAMP stream up and
// create consumers on it: the embedded server's revocations identity. --max-token-lifetime must cover the longest
// lifetime stamp gives any token (personal access tokens: a year by
// default); revocations older than that concern expired tokens and are not
// read. Until the feed has caught up, and whenever it loses NATS, every
// protected route answers 503.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/httpapi/guard"
)

// The feed must be a guard.Feed: their sink types are the same interface
// literal.
var _ guard.Feed = (*eventstore.RevocationFeed)(nil)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "example-resource-server:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	issuer, jwksURL, natsURL, natsCreds, natsNkey, addr string
	audience, logPublicKey                              string
	logKey                                              ed25519.PublicKey
	maxLifetime                                         time.Duration
	leeway                                              time.Duration
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("example-resource-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.issuer, "issuer", "", "stamp's issuer (its STAMP_ISSUER); required")
	fs.StringVar(&c.jwksURL, "jwks-url", "", "stamp's JWKS (default: the issuer's /.well-known/jwks.json)")
	fs.StringVar(&c.natsURL, "nats-url", "nats://127.0.0.1:4222", "the NATS server(s) stamp's stream is on")
	fs.StringVar(&c.natsCreds, "nats-creds", "", "a NATS credentials file, if the server asks for one")
	fs.StringVar(&c.natsNkey, "nats-nkey", "", "an nkey seed file: stamp's revocations identity (stamp nats credentials --role revocations)")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8081", "the address to serve on")
	fs.DurationVar(&c.maxLifetime, "max-token-lifetime", 366*24*time.Hour, "the longest lifetime of any token stamp issues")
	fs.DurationVar(&c.leeway, "leeway", 0, "clock skew tolerated on nbf and exp")
	fs.StringVar(&c.logPublicKey, "log-public-key", "", "stamp's log-signing public key (base64; the x of /.well-known/stamp-log-keys.json): refuse revocations it did not sign (default: trust the stream as it is)")
	fs.StringVar(&c.audience, "audience", "", "this API's resource URI (RFC 8707): refuse tokens not requested for it (default: accept any)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if c.issuer == "" {
		fs.Usage()
		return config{}, errors.New("--issuer is required")
	}
	if c.natsCreds != "" && c.natsNkey != "" {
		return config{}, errors.New("--nats-creds and --nats-nkey are exclusive")
	}
	if c.logPublicKey != "" {
		var err error
		if c.logKey, err = domain.ParseLogPublicKey(c.logPublicKey); err != nil {
			return config{}, fmt.Errorf("--log-public-key: %w", err)
		}
	}
	return c, nil
}

// run serves until ctx ends.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	feed, err := eventstore.OpenRevocationFeed(ctx, eventstore.Options{URL: c.natsURL, CredsFile: c.natsCreds, NkeySeedFile: c.natsNkey, Name: "example-resource-server", TrustedLogKeys: trusted(c.logKey)}, c.maxLifetime)
	if err != nil {
		return err
	}
	defer feed.Close()
	g, err := guard.New(ctx, guard.Options{Issuer: c.issuer, JWKSURL: c.jwksURL, Feed: feed, Leeway: c.leeway, Audience: c.audience, Logger: logger})
	if err != nil {
		return err
	}
	defer g.Close()

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: routes(g), ReadHeaderTimeout: 10 * time.Second}
	logger.Info("serving", "addr", "http://"+ln.Addr().String(), "issuer", c.issuer, "nats", c.natsURL)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// routes protects each route with one of Passport's middleware.
func routes(g *guard.Guard) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /public", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"message": "Anyone may read this."})
	})
	mux.Handle("GET /me", g.Auth(http.HandlerFunc(whoAmI)))
	mux.Handle("GET /orders", g.Scopes("orders:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := guard.TokenFrom(r.Context())
		writeJSON(w, map[string]any{"orders": []string{}, "for": owner(tok), "can_write": guard.TokenCan(r.Context(), "orders:write")})
	})))
	mux.Handle("GET /admin", g.Scope("admin", "*")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]string{"message": "Welcome, administrator."})
	})))
	mux.Handle("GET /machine", g.Client()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := guard.TokenFrom(r.Context())
		writeJSON(w, map[string]string{"message": "Hello, machine " + tok.ClientID + "."})
	})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !g.Current() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		writeJSON(w, map[string]bool{"revocations_current": g.Current()})
	})
	// The guard registers nothing itself: its collector goes on the
	// server's own registry, beside whatever else the server measures.
	reg := prometheus.NewRegistry()
	reg.MustRegister(g.Collector(), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

func whoAmI(w http.ResponseWriter, r *http.Request) {
	tok, _ := guard.TokenFrom(r.Context())
	writeJSON(w, map[string]any{
		"token_id": tok.ID, "client_id": tok.ClientID, "user_id": tok.UserID,
		"scopes": strings.Join(tok.Scopes, " "), "expires_at": tok.ExpiresAt.UTC(),
	})
}

// owner names who a token acts for.
func owner(tok guard.Token) string {
	if tok.UserID != "" {
		return "user " + tok.UserID
	}
	return "client " + tok.ClientID
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// trusted is the feed's trusted log keys: key, or none.
func trusted(key ed25519.PublicKey) []ed25519.PublicKey {
	if key == nil {
		return nil
	}
	return []ed25519.PublicKey{key}
}
