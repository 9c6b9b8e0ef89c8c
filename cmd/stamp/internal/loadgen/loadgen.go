// Package loadgen is the load generator of `stamp bench`: it drives a
// running stamp server over HTTP for a bounded time, phase after phase
// (raw signing in this process, client-credentials issuance, RFC 7662
// introspection, forward-auth verification), and measures each phase's
// rate and latency quantiles.
//
// It speaks only HTTP and the domain's token signer: it imports no
// storage and no other part of stamp, and it never registers clients
// itself (the caller hands it one). Run is safe for concurrent use; each
// call owns its own HTTP client.
package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// Defaults and bounds of Options.
const (
	DefaultDuration    = 10 * time.Second
	MaxDuration        = 10 * time.Minute
	DefaultConcurrency = 16
	MaxConcurrency     = 1024

	benchRequestTimeout = 10 * time.Second // a stuck server cannot stall a phase
	// benchErrorBody is how much of a failed answer's body is kept.
	benchErrorBody = 512
)

// Phase names, as in Result.Name and the printed table. A signing
// phase is named PhaseSigning, a space and its algorithm ("signing RS256").
const (
	PhaseSigning       = "signing"
	PhaseCeiling       = "ceiling"
	PhaseIssuance      = "issuance"
	PhaseIntrospection = "introspection"
	PhaseVerify        = "verify"
)

// Options configures one bounded load run against a running server.
type Options struct {
	URL          string        // server base URL, e.g. http://127.0.0.1:8080
	ClientID     string        // a confidential client allowed client_credentials
	ClientSecret string        // that client's secret
	Scope        string        // optional scope parameter
	Duration     time.Duration // per phase; default 10s; must be > 0 and <= 10m
	Concurrency  int           // default 16; 1..1024
	Signer       crypto.Signer // the server's configured signing key, for the raw signing rates (nil: skip them)
}

// DefaultOptions returns Options with the default Duration and
// Concurrency; the caller sets the server and the client.
func DefaultOptions() Options {
	return Options{Duration: DefaultDuration, Concurrency: DefaultConcurrency}
}

// withDefaults returns o with the zero Duration and Concurrency replaced
// by their defaults.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	o.Duration = cmp.Or(o.Duration, d.Duration)
	o.Concurrency = cmp.Or(o.Concurrency, d.Concurrency)
	return o
}

// Validate reports the first invalid field, named in the error, without
// any I/O and without changing o: a zero Duration or Concurrency is out of
// range here (Run and DefaultOptions fill them).
func (o Options) Validate() error {
	u, err := url.Parse(o.URL)
	switch {
	case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("bench: URL %q: want http(s)://host[:port]", o.URL)
	case o.ClientID == "" || o.ClientSecret == "":
		return errors.New("bench: ClientID and ClientSecret are required (a confidential client)")
	case o.Duration <= 0 || o.Duration > MaxDuration:
		return fmt.Errorf("bench: Duration %v out of range (0, %v]", o.Duration, MaxDuration)
	case o.Concurrency < 1 || o.Concurrency > MaxConcurrency:
		return fmt.Errorf("bench: Concurrency %d out of range 1..%d", o.Concurrency, MaxConcurrency)
	}
	if _, err := domain.AlgorithmOf(o.Signer); o.Signer != nil && err != nil {
		return fmt.Errorf("bench: Signer: %w", err)
	}
	return nil
}

// Result is one measured phase. Requests counts every completed
// operation, Errors those among them that failed; Elapsed runs from the
// phase's start until its last operation returned. P50 and P99 are taken
// over all completed operations, failed ones included, within 1%.
type Result struct {
	Name             string
	Requests, Errors int
	Elapsed          time.Duration
	P50, P99         time.Duration
}

// Rate returns successful operations per second of Elapsed, or 0 when
// nothing elapsed.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests-r.Errors) / r.Elapsed.Seconds()
}

// Run runs, in order and each for opts.Duration at opts.Concurrency (a
// zero Duration or Concurrency takes its default):
//
//  1. signing (only when opts.Signer is set): opts.Concurrency goroutines
//     of this process sign a typical access-token claim set with
//     domain.NewTokenSigner, as fast as they can: once with opts.Signer,
//     then with a key generated for the run for each of RS256 and EdDSA
//     that opts.Signer is not, so both limits of goal 5 have their base;
//  2. ceiling: GET {URL}/bench/ceiling, the server's trivial JSON handler
//     (served only with `serve --dev` or bench_ceiling_route; when the
//     server answers 404 the phase is skipped with a note);
//  3. issuance: POST {URL}/oauth/token grant_type=client_credentials,
//     the client authenticated with HTTP Basic (RFC 6749 §2.3.1);
//  4. introspection: POST {URL}/oauth/introspect (RFC 7662) of a token
//     obtained just before the phase, authenticated the same way;
//  5. verify: GET {URL}/auth/verify with that token as the bearer, as a
//     reverse proxy's forward-auth check sends it.
//
// It prints a table to out (phase, requests, errors, rate/s, p50, p99), a
// row as each phase ends, then each figure beside its limit and the ratio
// (see Limits). A non-2xx answer is an error; each phase's first failure
// is printed once below its row. Each request times out after 10s, so a
// run ends by itself within about five Durations; cancelling ctx stops it
// early. Write errors on out are ignored.
//
// Along with the results so far, Run returns an error when opts is
// invalid, when every operation of a phase failed (naming the phase and
// wrapping its first failure), when no token to introspect can be
// obtained, or when ctx is cancelled (wrapping ctx.Err()).
func Run(ctx context.Context, opts Options, out io.Writer) ([]Result, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	b := newBencher(opts)
	defer b.client.CloseIdleConnections()

	signers, err := benchSigners(opts.Signer)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", PhaseSigning, err)
	}
	signWith := "no signing key"
	if len(signers) > 0 {
		signWith = "signing with the configured " + signers[0].Algorithm() + " key in this process"
	}
	fmt.Fprintf(out, "stamp bench: %s, %d concurrent, %v per phase, %s\n",
		b.base, opts.Concurrency, opts.Duration, signWith)
	fmt.Fprintf(out, "%-14s %10s %8s %11s %10s %10s\n", "phase", "requests", "errors", "rate/s", "p50", "p99")
	var results []Result
	finish := func(r Result, first error) error {
		results = append(results, r)
		fmt.Fprintf(out, "%-14s %10d %8d %11.1f %10v %10v\n",
			r.Name, r.Requests, r.Errors, r.Rate(), roundDuration(r.P50), roundDuration(r.P99))
		if first != nil {
			fmt.Fprintf(out, "  first error: %v\n", first)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("bench: %s: %w", r.Name, err)
		}
		if r.Requests > 0 && r.Errors == r.Requests {
			return fmt.Errorf("bench: %s: all %d requests failed; first: %w", r.Name, r.Requests, first)
		}
		return nil
	}

	for _, ts := range signers {
		if err := finish(b.run(ctx, PhaseSigning+" "+ts.Algorithm(), b.signOp(ts))); err != nil {
			return results, err
		}
	}

	if err := b.send(ctx, http.MethodGet, PathBenchCeiling, "", "", nil); err == nil {
		if err := finish(b.run(ctx, PhaseCeiling, func(ctx context.Context) error {
			return b.send(ctx, http.MethodGet, PathBenchCeiling, "", "", nil)
		})); err != nil {
			return results, err
		}
	} else if status, ok := errors.AsType[*StatusError](err); ok && status.StatusCode == http.StatusNotFound {
		fmt.Fprintf(out, "note: the server has no %s (serve --dev or --bench-ceiling-route), so the limits relative to it are not measured\n", PathBenchCeiling)
	} else {
		return results, fmt.Errorf("bench: %s: %w", PhaseCeiling, err)
	}

	issueBody := url.Values{"grant_type": {"client_credentials"}}
	if opts.Scope != "" {
		issueBody.Set("scope", opts.Scope)
	}
	issueForm := issueBody.Encode()
	if err := finish(b.run(ctx, PhaseIssuance, func(ctx context.Context) error {
		return b.post(ctx, "/oauth/token", issueForm, nil)
	})); err != nil {
		return results, err
	}

	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := b.post(ctx, "/oauth/token", issueForm, &tok); err != nil || tok.AccessToken == "" {
		err = cmp.Or(err, errors.New("no access_token in the answer"))
		return results, fmt.Errorf("bench: %s: obtain a token: %w", PhaseIntrospection, err)
	}
	issuedWith := tokenAlgorithm(tok.AccessToken)
	if issuedWith == "" && len(signers) > 0 {
		issuedWith = signers[0].Algorithm()
	}
	defer func() { printLimits(out, Limits(results, issuedWith)) }() // below the table, however the run ends

	introspectForm := url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}.Encode()
	var probe struct{ Active bool }
	if err := b.post(ctx, "/oauth/introspect", introspectForm, &probe); err == nil && !probe.Active {
		fmt.Fprintf(out, "note: the server calls a fresh token inactive, so %s measures the rejection path\n", PhaseIntrospection)
	}
	if err := finish(b.run(ctx, PhaseIntrospection, func(ctx context.Context) error {
		return b.post(ctx, "/oauth/introspect", introspectForm, nil)
	})); err != nil {
		return results, err
	}
	bearer := "Bearer " + tok.AccessToken
	err = finish(b.run(ctx, PhaseVerify, func(ctx context.Context) error {
		return b.send(ctx, http.MethodGet, "/auth/verify", "", bearer, nil)
	}))
	return results, err
}

// bencher holds what the phases of one run share.
type bencher struct {
	opts   Options
	base   string // URL without a trailing slash
	auth   string // the Authorization header
	client *http.Client
}

func newBencher(opts Options) *bencher {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // measure the server, not a proxy
	tr.MaxIdleConns = opts.Concurrency
	tr.MaxIdleConnsPerHost = opts.Concurrency
	// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
	cred := url.QueryEscape(opts.ClientID) + ":" + url.QueryEscape(opts.ClientSecret)
	return &bencher{
		opts:   opts,
		base:   strings.TrimRight(opts.URL, "/"),
		auth:   "Basic " + base64.StdEncoding.EncodeToString([]byte(cred)),
		client: &http.Client{Transport: tr, Timeout: benchRequestTimeout},
	}
}

// run calls op, which must be safe for concurrent use, from
// opts.Concurrency workers until opts.Duration has passed or ctx is done.
// An operation cut short by ctx is neither counted nor timed. It returns the
// measured phase and the first failure, if any.
func (b *bencher) run(ctx context.Context, name string, op func(context.Context) error) (Result, error) {
	var wg sync.WaitGroup
	var firstOnce sync.Once
	var first error
	tallies := make([]tally, b.opts.Concurrency) // a worker's own
	start := time.Now()
	deadline := start.Add(b.opts.Duration)
	for i := range tallies {
		t := &tallies[i]
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				err := op(ctx)
				elapsed := time.Since(t0)
				if err != nil && ctx.Err() != nil {
					return
				}
				t.hist.record(elapsed)
				if err != nil {
					t.errors++
					firstOnce.Do(func() { first = err })
				}
			}
		})
	}
	wg.Wait()
	r := Result{Name: name, Elapsed: time.Since(start)}
	var all histogram
	for _, t := range tallies {
		r.Requests += int(t.hist.total)
		r.Errors += t.errors
		for i, c := range t.hist.counts {
			all.counts[i] += c
		}
		all.total += t.hist.total
	}
	r.P50, r.P99 = all.quantile(0.50), all.quantile(0.99)
	return r, first
}

// tally is what one worker measured: every operation is in hist.
type tally struct {
	errors int
	hist   histogram
}

// signOp returns an operation, safe for concurrent use, that signs a
// typical client_credentials access token with a fresh jti, as the server
// makes one.
func (b *bencher) signOp(ts *domain.TokenSigner) func(context.Context) error {
	scopes := domain.ParseScope(cmp.Or(b.opts.Scope, "orders:read orders:write"))
	template := domain.Claims{
		Issuer: b.base, Audience: domain.Audience{b.opts.ClientID}, Subject: b.opts.ClientID, ClientID: b.opts.ClientID,
		Scopes: scopes, Scope: domain.FormatScope(scopes),
	}
	return func(context.Context) error {
		jti, err := domain.NewID(rand.Reader)
		if err != nil {
			return err
		}
		c, now := template, time.Now().Unix()
		c.ID, c.IssuedAt, c.NotBefore, c.Expiry = jti, now, now, now+3600
		_, err = ts.Sign(c)
		return err
	}
}

// post sends form to base+path as the client. A 2xx answer is decoded
// into into, or discarded when into is nil; any other answer is a
// *StatusError. The body is always read to the end, so the connection
// is reused.
func (b *bencher) post(ctx context.Context, path, form string, into any) error {
	return b.send(ctx, http.MethodPost, path, form, b.auth, into)
}

// send is post with any method (a form only for POST) and Authorization
// (none when auth is empty).
func (b *bencher) send(ctx context.Context, method, path, form, auth string, into any) error {
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	defer io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, benchErrorBody))
		return &StatusError{StatusCode: resp.StatusCode, Body: string(bytes.TrimSpace(body))}
	}
	if into != nil {
		return json.NewDecoder(resp.Body).Decode(into)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// StatusError is a non-2xx answer during Run; Body holds at most
// its first 512 bytes.
type StatusError struct {
	StatusCode int
	Body       string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Body)
}

// roundDuration keeps three significant digits, for the table.
func roundDuration(d time.Duration) time.Duration {
	step := time.Duration(1)
	for v := d; v >= 1000; v /= 10 {
		step *= 10
	}
	return d.Round(step)
}

// histogram counts durations in log-linear buckets, as HdrHistogram
// does: exact below 128ns, then 64 per power of two up to 73 minutes (the
// last takes anything longer), each reported by its midpoint, within 1/128
// of any value in it. 9.5 KiB at any count; not safe for concurrent use.
type histogram struct {
	counts [histBuckets]uint32
	total  uint64
}

const (
	histSubBits  = 6
	histSub      = 1 << histSubBits // buckets per power of two
	histExact    = 2 * histSub      // values below are their own bucket
	histMaxShift = 35
	histBuckets  = histExact + histMaxShift*histSub
)

func histIndex(d time.Duration) int {
	if d < histExact {
		return max(int(d), 0)
	}
	shift := bits.Len64(uint64(d)) - (histSubBits + 1)
	return min(histExact+(shift-1)*histSub+int(uint64(d)>>shift)-histSub, histBuckets-1)
}

func histValue(i int) time.Duration {
	if i < histExact {
		return time.Duration(i)
	}
	k := i - histExact
	shift := k/histSub + 1
	low := uint64(k%histSub+histSub) << shift
	return time.Duration(low + (1<<shift-1)/2)
}

func (h *histogram) record(d time.Duration) {
	h.counts[histIndex(d)]++
	h.total++
}

// quantile returns the nearest-rank q-quantile (0 < q <= 1), or 0 when
// nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(h.total))), 1)
	var seen uint64
	for i, c := range h.counts {
		if seen += uint64(c); seen >= rank {
			return histValue(i)
		}
	}
	return histValue(histBuckets - 1)
}
