package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/httpapi/guard"
)

// benchNode is a node for a benchmark, set up as newEnv sets one up for a
// test, signing with alg.
type benchNode struct {
	b      *testing.B
	n      *app.Node
	vars   map[string]string
	issuer string
}

// benchAlgorithms are the signing algorithms the benchmarks run with:
// STAMP_SIGNING_ALGORITHM's if set, else EdDSA and RS256.
func benchAlgorithms() []string {
	if alg := os.Getenv("STAMP_SIGNING_ALGORITHM"); alg != "" {
		return []string{alg}
	}
	return []string{domain.EdDSA, domain.RS256}
}

func startBenchNode(b *testing.B, alg string) *benchNode {
	b.Helper()
	bn := &benchNode{b: b, issuer: "http://stamp.test", vars: map[string]string{
		"STAMP_DATA_DIR":          b.TempDir(),
		"STAMP_HTTP_ADDR":         "127.0.0.1:0",
		"STAMP_ISSUER":            "http://stamp.test",
		"STAMP_NATS_PORT":         "-1",
		"STAMP_SIGNING_ALGORITHM": alg,
		"STAMP_SCOPES":            "read=Read your data",
		"STAMP_DEFAULT_SCOPES":    "read",
		"STAMP_LOG_LEVEL":         "warn",
	}}
	cfg, err := app.LoadConfig(nil, bn.getenv)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bn.n, err = app.Start(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bn.n.Close(context.Background()) })
	return bn
}

func (bn *benchNode) getenv(k string) string { return bn.vars[k] }

// createClient registers a client-credentials client with the CLI and
// waits until the node knows it.
func (bn *benchNode) createClient() (id, secret string) {
	bn.b.Helper()
	var out, errOut bytes.Buffer
	code := app.Main(context.Background(), []string{"client", "create", "--client", "--name", "bench", "--json"},
		app.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Getenv: bn.getenv})
	var got struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); code != 0 || err != nil {
		bn.b.Fatalf("client create: exit %d: %s", code, errOut.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := bn.n.Views().Client(context.Background(), got.ClientID); err == nil {
			return got.ClientID, got.ClientSecret
		}
		if time.Now().After(deadline) {
			bn.b.Fatal("the node did not apply the new client within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// post posts form to path with HTTP Basic client authentication.
func (bn *benchNode) post(path, id, secret string, form url.Values) []byte {
	bn.b.Helper()
	req, err := http.NewRequest(http.MethodPost, bn.n.HTTPURL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		bn.b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		bn.b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		bn.b.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	return body
}

func (bn *benchNode) token(id, secret string) string {
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(bn.post("/oauth/token", id, secret, url.Values{"grant_type": {"client_credentials"}}), &tok); err != nil {
		bn.b.Fatal(err)
	}
	return tok.AccessToken
}

// guarded sends raw through h and returns the status.
func guarded(h http.Handler, raw string) int {
	req := httptest.NewRequest(http.MethodGet, "/machine", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

var noContent = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

// BenchmarkGuardValidation measures, for each signing algorithm and in one
// run, how many requests per second the guard's middleware validates
// (g.Client() around a no-op handler, b.RunParallel, a recorder per
// request: signature, claims, revocation look-up, context) beside how many
// times per second go-jose alone parses and verifies the same token
// (jwt.ParseSigned and Claims into domain.Claims, no checks):
//
//	go test ./integration/ -run '^$' -bench BenchmarkGuardValidation -benchtime 3s
//
// The ratio guard/go-jose is logged; the "paired" sub-benchmark measures
// both within the same loop, which is the figure to trust on a noisy
// machine.
func BenchmarkGuardValidation(b *testing.B) {
	for _, alg := range benchAlgorithms() {
		b.Run(alg, func(b *testing.B) {
			bn := startBenchNode(b, alg)
			id, secret := bn.createClient()
			raw := bn.token(id, secret)
			g := startGuard(b, bn.n, bn.issuer)
			h := g.Client()(noContent)
			if got := guarded(h, raw); got != http.StatusNoContent {
				b.Fatalf("the guard answers %d; want 204", got)
			}
			key := jwksKey(b, bn.n.HTTPURL()+"/.well-known/jwks.json")
			algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}

			var rates [2]float64
			b.Run("guard", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					req := httptest.NewRequest(http.MethodGet, "/machine", nil)
					req.Header.Set("Authorization", "Bearer "+raw)
					for pb.Next() {
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						if rec.Code != http.StatusNoContent {
							b.Errorf("the guard answered %d", rec.Code)
							return
						}
					}
				})
				rates[0] = float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rates[0], "ops/s")
			})
			b.Run("go-jose", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						tok, err := jwt.ParseSigned(raw, algs)
						var c domain.Claims
						if err == nil {
							err = tok.Claims(key, &c)
						}
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
				rates[1] = float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rates[1], "ops/s")
			})
			if rates[1] > 0 {
				b.Logf("%s: guard %.0f/s, go-jose alone %.0f/s: the guard runs at %.0f%% of go-jose", alg, rates[0], rates[1], 100*rates[0]/rates[1])
			}
			// The machine is shared and noisy: for the ratio, each
			// goroutine alternates one request through the guard with one
			// go-jose verification and times each, so that both meet the
			// same conditions.
			b.Run("paired", func(b *testing.B) {
				var mu sync.Mutex
				var inGuard, inJose time.Duration
				b.RunParallel(func(pb *testing.PB) {
					req := httptest.NewRequest(http.MethodGet, "/machine", nil)
					req.Header.Set("Authorization", "Bearer "+raw)
					var g, j time.Duration
					for pb.Next() {
						t0 := time.Now()
						rec := httptest.NewRecorder()
						h.ServeHTTP(rec, req)
						t1 := time.Now()
						tok, err := jwt.ParseSigned(raw, algs)
						var c domain.Claims
						if err == nil {
							err = tok.Claims(key, &c)
						}
						t2 := time.Now()
						if err != nil || rec.Code != http.StatusNoContent {
							b.Errorf("guard %d, go-jose %v", rec.Code, err)
							return
						}
						g, j = g+t1.Sub(t0), j+t2.Sub(t1)
					}
					mu.Lock()
					inGuard, inJose = inGuard+g, inJose+j
					mu.Unlock()
				})
				// Each of GOMAXPROCS goroutines spent inGuard/GOMAXPROCS in
				// the guard: that is the machine's rate.
				procs := float64(runtime.GOMAXPROCS(0))
				guardRate := float64(b.N) / (inGuard.Seconds() / procs)
				joseRate := float64(b.N) / (inJose.Seconds() / procs)
				b.ReportMetric(guardRate, "guard-ops/s")
				b.ReportMetric(joseRate, "go-jose-ops/s")
				b.ReportMetric(guardRate/joseRate, "guard/go-jose")
			})
		})
	}
}

// jwksKey returns the only key of the JWKS at u.
func jwksKey(b *testing.B, u string) any {
	b.Helper()
	resp, err := http.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 {
		b.Fatalf("JWKS: %v, %d keys; want 1", err, len(set.Keys))
	}
	return set.Keys[0].Key
}

// timingFeed wraps a guard.Feed to note when each revocation reached the
// guard's sink.
type timingFeed struct {
	inner guard.Feed
	mu    sync.Mutex
	at    map[string]time.Time
}

func (f *timingFeed) Run(ctx context.Context, sink guard.Sink) error {
	return f.inner.Run(ctx, timingSink{sink, f})
}

func (f *timingFeed) learned(jti string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at, ok := f.at[jti]
	return at, ok
}

type timingSink struct {
	guard.Sink
	f *timingFeed
}

func (s timingSink) Revoked(jti string, until time.Time) {
	now := time.Now()
	s.Sink.Revoked(jti, until)
	s.f.mu.Lock()
	s.f.at[jti] = now
	s.f.mu.Unlock()
}

// BenchmarkGuardRevocationLatency measures how long a revocation takes to
// reach a guard running beside a node, as a second instance would: each
// iteration revokes one client-credentials token with POST /oauth/revoke,
// then calls the guard's middleware in a loop until it refuses the token.
// It reports, as p50 and p99 in µs:
//
//	revoke-µs   the POST /oauth/revoke round trip (the node answers once
//	            the event is stored and its own read models have it)
//	refused-µs  from the POST's answer to the middleware's first 401
//	            (one validation at least: the poll's resolution)
//	learned-µs  from the POST's answer to the revocation reaching the
//	            guard's set (negative: before the answer)
//	total-µs    from sending the POST to the middleware's first 401
//
//	go test ./integration/ -run '^$' -bench BenchmarkGuardRevocationLatency -benchtime 300x
func BenchmarkGuardRevocationLatency(b *testing.B) {
	for _, alg := range benchAlgorithms() {
		b.Run(alg, func(b *testing.B) {
			bn := startBenchNode(b, alg)
			id, secret := bn.createClient()
			feed := &timingFeed{inner: openFeed(b, bn.n), at: map[string]time.Time{}}
			g := newGuard(b, bn.n, bn.issuer, feed)
			h := g.Client()(noContent)
			tokens := make([]string, b.N)
			for i := range tokens {
				tokens[i] = bn.token(id, secret)
				if got := guarded(h, tokens[i]); got != http.StatusNoContent {
					b.Fatalf("a fresh token: the guard answers %d; want 204", got)
				}
			}
			jtis := make([]string, b.N)
			for i, raw := range tokens {
				tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
				var c domain.Claims
				if err == nil {
					err = tok.UnsafeClaimsWithoutVerification(&c)
				}
				if err != nil {
					b.Fatal(err)
				}
				jtis[i] = c.ID
			}

			var revoke, refused, learned, total []time.Duration
			b.ResetTimer()
			for i, raw := range tokens {
				t0 := time.Now()
				bn.post("/oauth/revoke", id, secret, url.Values{"token": {raw}})
				t1 := time.Now()
				for guarded(h, raw) != http.StatusUnauthorized {
					if time.Since(t1) > 5*time.Second {
						b.Fatalf("token %d still accepted 5s after its revocation", i)
					}
					runtime.Gosched()
				}
				t2 := time.Now()
				at, ok := feed.learned(jtis[i])
				if !ok {
					b.Fatalf("token %d refused before its revocation reached the guard", i)
				}
				revoke, refused = append(revoke, t1.Sub(t0)), append(refused, t2.Sub(t1))
				learned, total = append(learned, at.Sub(t1)), append(total, t2.Sub(t0))
			}
			b.StopTimer()
			for _, m := range []struct {
				name string
				d    []time.Duration
			}{{"revoke", revoke}, {"refused", refused}, {"learned", learned}, {"total", total}} {
				slices.Sort(m.d)
				b.ReportMetric(quantileMicros(m.d, 0.50), m.name+"-p50-µs")
				b.ReportMetric(quantileMicros(m.d, 0.99), m.name+"-p99-µs")
			}
		})
	}
}

// quantileMicros returns the q quantile of sorted durations, in µs.
func quantileMicros(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return float64(sorted[i]) / float64(time.Microsecond)
}
