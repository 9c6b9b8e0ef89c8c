package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

const (
	benchTestClient = "bench client"
	benchTestSecret = "s3cr:t+/=" // needs RFC 6749 §2.3.1 form-encoding
	benchTestToken  = "header.payload.signature"
)

// fakeOAuthServer imitates stamp's token and introspection endpoints for
// one confidential client, counting the requests each one answered.
type fakeOAuthServer struct {
	tokens, introspections, verifies, ceilings atomic.Int64
	noCeiling                                  bool // answer 404 at /bench/ceiling
}

func (f *fakeOAuthServer) authenticated(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if !ok {
		return false
	}
	id, err1 := url.QueryUnescape(id)
	secret, err2 := url.QueryUnescape(secret)
	return err1 == nil && err2 == nil && id == benchTestClient && secret == benchTestSecret
}

func (f *fakeOAuthServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet && r.URL.Path == PathBenchCeiling {
		if f.noCeiling {
			http.NotFound(w, r)
			return
		}
		f.ceilings.Add(1)
		w.Write([]byte(`{"active":true}`))
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/auth/verify" {
		f.verifies.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+benchTestToken {
			w.WriteHeader(http.StatusUnauthorized)
		}
		return
	}
	if r.Method != http.MethodPost || !f.authenticated(r) {
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error":"invalid_client"}`))
		return
	}
	switch r.URL.Path {
	case "/oauth/token":
		f.tokens.Add(1)
		if r.PostFormValue("grant_type") != "client_credentials" || r.PostFormValue("scope") != "orders:read" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_request"}`))
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"access_token": benchTestToken, "token_type": "Bearer", "expires_in": 3600, "scope": "orders:read",
		})
	case "/oauth/introspect":
		f.introspections.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"active": r.PostFormValue("token") == benchTestToken})
	default:
		http.NotFound(w, r)
	}
}

func benchTestOptions(t *testing.T, url string) Options {
	t.Helper()
	key, err := domain.GenerateSigningKey(domain.EdDSA, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		URL: url + "/", ClientID: benchTestClient, ClientSecret: benchTestSecret, Scope: "orders:read",
		Duration: 200 * time.Millisecond, Concurrency: 4, Signer: key,
	}
}

func TestBench(t *testing.T) {
	fake := new(fakeOAuthServer)
	srv := httptest.NewServer(fake)
	defer srv.Close()

	var out bytes.Buffer
	results, err := Run(context.Background(), benchTestOptions(t, srv.URL), &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatalf("Bench: %v", err)
	}
	var names []string
	for _, r := range results {
		names = append(names, r.Name)
		if r.Requests <= 0 || r.Errors != 0 {
			t.Errorf("%s: requests %d, errors %d; want > 0 and 0", r.Name, r.Requests, r.Errors)
		}
		if r.P50 <= 0 || r.P99 < r.P50 || r.Rate() <= 0 {
			t.Errorf("%s: p50 %v, p99 %v, rate %v; want 0 < p50 <= p99 and a rate", r.Name, r.P50, r.P99, r.Rate())
		}
		if !strings.Contains(out.String(), "\n"+r.Name+" ") {
			t.Errorf("the table has no row for %s", r.Name)
		}
	}
	// The configured key is EdDSA; RS256 is measured with a key of the run.
	want := []string{"signing EdDSA", "signing RS256", PhaseCeiling, PhaseIssuance, PhaseIntrospection, PhaseVerify}
	if !slices.Equal(names, want) {
		t.Fatalf("phases %v; want %v", names, want)
	}
	// One more token than measured is fetched for introspection, one
	// introspection probes it before the phase, and one ceiling request
	// probes the route.
	if got, want := fake.ceilings.Load(), int64(results[2].Requests+1); got != want {
		t.Errorf("server answered %d ceiling requests; want %d", got, want)
	}
	if got, want := fake.tokens.Load(), int64(results[3].Requests+1); got != want {
		t.Errorf("server answered %d token requests; want %d", got, want)
	}
	if got, want := fake.introspections.Load(), int64(results[4].Requests+1); got != want {
		t.Errorf("server answered %d introspections; want %d", got, want)
	}
	if got, want := fake.verifies.Load(), int64(results[5].Requests); got != want {
		t.Errorf("server answered %d verifications; want %d", got, want)
	}
	// The fake's token is no JWS, so issuance counts as the configured
	// key's (EdDSA): held to the ceiling, as are the two checks.
	for _, s := range []string{"rate/s", "p99", "issuance (EdDSA)", "0.50× ceiling", "0.70× ceiling", "ratio"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q", s)
		}
	}
	if strings.Contains(out.String(), "inactive") {
		t.Errorf("output reports the token inactive")
	}
}

// TestBenchWithoutCeiling: a server without the ceiling route is still
// measured; the limits relative to the ceiling say they are not measured.
func TestBenchWithoutCeiling(t *testing.T) {
	srv := httptest.NewServer(&fakeOAuthServer{noCeiling: true})
	defer srv.Close()
	opts := benchTestOptions(t, srv.URL)
	opts.Signer = nil

	var out bytes.Buffer
	results, err := Run(context.Background(), opts, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatalf("Bench: %v", err)
	}
	var names []string
	for _, r := range results {
		names = append(names, r.Name)
	}
	if want := []string{PhaseIssuance, PhaseIntrospection, PhaseVerify}; !slices.Equal(names, want) {
		t.Fatalf("phases %v; want %v", names, want)
	}
	for _, s := range []string{"note: the server has no " + PathBenchCeiling, "not measured"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q", s)
		}
	}
}

func TestLimits(t *testing.T) {
	results := []Result{
		{Name: "signing RS256", Requests: 1000, Elapsed: time.Second},
		{Name: PhaseCeiling, Requests: 10000, Elapsed: time.Second},
		{Name: PhaseIssuance, Requests: 900, Elapsed: time.Second},
		{Name: PhaseIntrospection, Requests: 6000, Elapsed: time.Second},
		{Name: PhaseVerify, Requests: 8000, Errors: 500, Elapsed: time.Second},
	}
	for _, tc := range []struct {
		alg  string
		want []Limit
	}{
		{domain.RS256, []Limit{
			{Name: "issuance (RS256)", Measured: 900, Base: 1000, Factor: 0.85, BaseName: "signing RS256"},
			{Name: PhaseIntrospection, Measured: 6000, Base: 10000, Factor: 0.7, BaseName: PhaseCeiling},
			{Name: PhaseVerify, Measured: 7500, Base: 10000, Factor: 0.7, BaseName: PhaseCeiling},
		}},
		{domain.EdDSA, []Limit{
			{Name: "issuance (EdDSA)", Measured: 900, Base: 10000, Factor: 0.5, BaseName: PhaseCeiling},
			{Name: PhaseIntrospection, Measured: 6000, Base: 10000, Factor: 0.7, BaseName: PhaseCeiling},
			{Name: PhaseVerify, Measured: 7500, Base: 10000, Factor: 0.7, BaseName: PhaseCeiling},
		}},
		{domain.ES256, []Limit{
			{Name: PhaseIntrospection, Measured: 6000, Base: 10000, Factor: 0.7, BaseName: PhaseCeiling},
			{Name: PhaseVerify, Measured: 7500, Base: 10000, Factor: 0.7, BaseName: PhaseCeiling},
		}},
	} {
		got := Limits(results, tc.alg)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Limits(%s):\n got %+v\nwant %+v", tc.alg, got, tc.want)
		}
		for _, l := range got {
			wantMet := l.Name == "issuance (RS256)" || l.Name == PhaseVerify
			if l.Met() != wantMet {
				t.Errorf("%s %s: Met() = %v (ratio %.2f, factor %.2f); want %v", tc.alg, l.Name, l.Met(), l.Ratio(), l.Factor, wantMet)
			}
		}
	}
	// Without the base phase a limit is not met and has no ratio.
	l := Limits(results[2:], domain.RS256)[0]
	if l.Base != 0 || l.Ratio() != 0 || l.Met() {
		t.Errorf("without signing RS256: %+v, ratio %v, met %v; want no base, ratio 0, not met", l, l.Ratio(), l.Met())
	}
}

func TestTokenAlgorithm(t *testing.T) {
	for token, want := range map[string]string{
		"eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ.e30.sig": "RS256",
		"eyJhbGciOiJFZERTQSJ9.e30.sig":               "EdDSA",
		benchTestToken:                               "",
		"opaque":                                     "",
	} {
		if got := tokenAlgorithm(token); got != want {
			t.Errorf("tokenAlgorithm(%q) = %q; want %q", token, got, want)
		}
	}
}

func TestBenchFailsWhenUnauthorized(t *testing.T) {
	fake := new(fakeOAuthServer)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	opts := benchTestOptions(t, srv.URL)
	opts.ClientSecret = "wrong"
	opts.Signer = nil

	var out bytes.Buffer
	results, err := Run(context.Background(), opts, &out)
	if err == nil || !strings.Contains(err.Error(), PhaseIssuance) {
		t.Fatalf("Bench error %v; want one naming %s", err, PhaseIssuance)
	}
	var status *StatusError
	if !errors.As(err, &status) || status.StatusCode != http.StatusUnauthorized {
		t.Errorf("Bench error %v; want it to wrap the 401 answer", err)
	}
	if len(results) != 2 || results[0].Name != PhaseCeiling || results[1].Name != PhaseIssuance || results[1].Errors != results[1].Requests {
		t.Errorf("results %+v; want the ceiling, then a failed issuance", results)
	}
	if got := strings.Count(out.String(), "invalid_client"); got != 1 {
		t.Errorf("output shows the error body %d times; want once:\n%s", got, out.String())
	}
	if fake.introspections.Load() != 0 {
		t.Errorf("introspection ran after issuance failed")
	}
}

func TestBenchStopsWhenCancelled(t *testing.T) {
	srv := httptest.NewServer(new(fakeOAuthServer))
	defer srv.Close()
	opts := benchTestOptions(t, srv.URL)
	opts.Duration = MaxDuration
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	var out bytes.Buffer
	_, err := Run(ctx, opts, &out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Bench error %v; want context.Canceled", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	valid := func() Options {
		o := DefaultOptions()
		o.URL, o.ClientID, o.ClientSecret = "http://127.0.0.1:8080", "c", "s"
		return o
	}
	o := valid()
	if err := o.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if o.Duration != DefaultDuration || o.Concurrency != DefaultConcurrency {
		t.Errorf("defaults: Duration %v, Concurrency %d; want %v, %d",
			o.Duration, o.Concurrency, DefaultDuration, DefaultConcurrency)
	}
	if got := (Options{URL: o.URL, ClientID: "c", ClientSecret: "s"}).withDefaults(); got != o {
		t.Errorf("withDefaults of zero Duration and Concurrency = %+v; want %+v", got, o)
	}
	for _, tc := range []struct {
		name   string
		modify func(*Options)
		field  string
	}{
		{"zero duration", func(o *Options) { o.Duration = 0 }, "Duration"},
		{"zero concurrency", func(o *Options) { o.Concurrency = 0 }, "Concurrency"},
		{"negative concurrency", func(o *Options) { o.Concurrency = -1 }, "Concurrency"},
		{"too many workers", func(o *Options) { o.Concurrency = MaxConcurrency + 1 }, "Concurrency"},
		{"too long", func(o *Options) { o.Duration = MaxDuration + time.Second }, "Duration"},
		{"negative duration", func(o *Options) { o.Duration = -time.Second }, "Duration"},
		{"no URL", func(o *Options) { o.URL = "" }, "URL"},
		{"URL without host", func(o *Options) { o.URL = "localhost:8080" }, "URL"},
		{"no client", func(o *Options) { o.ClientID = "" }, "ClientID"},
		{"no secret", func(o *Options) { o.ClientSecret = "" }, "ClientSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := valid()
			tc.modify(&o)
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Validate() = %v; want an error naming %s", err, tc.field)
			}
		})
	}
}

func TestBenchHistogram(t *testing.T) {
	for i := range histBuckets {
		if got := histIndex(histValue(i)); got != i {
			t.Fatalf("histIndex(histValue(%d)) = %d", i, got)
		}
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 1000, 100000} {
		var h histogram
		values := make([]time.Duration, n)
		for i := range values {
			// Log-uniform from 1ns to about an hour.
			values[i] = time.Duration(math.Exp(rng.Float64() * math.Log(float64(time.Hour))))
			h.record(values[i])
		}
		slices.Sort(values)
		for _, q := range []float64{0.5, 0.99, 1} {
			want := values[int(math.Ceil(q*float64(n)))-1]
			got := h.quantile(q)
			if math.Abs(float64(got-want)) > 0.01*float64(want) {
				t.Errorf("n=%d: quantile(%v) = %v; want %v within 1%%", n, q, got, want)
			}
		}
	}
	var empty histogram
	if got := empty.quantile(0.5); got != 0 {
		t.Errorf("empty quantile = %v; want 0", got)
	}
}
