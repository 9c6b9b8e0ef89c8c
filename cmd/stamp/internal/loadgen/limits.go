package loadgen

import (
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/stamp-oauth/stamp/domain"
)

// PathBenchCeiling is the server's trivial JSON handler (httpapi's
// route of the same name), the ceiling of server and load generator.
const PathBenchCeiling = "/bench/ceiling"

// Limit is one figure of a run beside the limit it is held to: Measured
// (per second) should be at least Factor times Base, the rate of the
// phase BaseName of the same run. Base is 0 when that phase did not run
// (then the limit is not measured).
type Limit struct {
	Name           string // what is measured, e.g. "issuance (RS256)"
	Measured, Base float64
	Factor         float64
	BaseName       string
}

// Ratio returns Measured/Base, or 0 when Base is 0.
func (l Limit) Ratio() float64 {
	if l.Base <= 0 {
		return 0
	}
	return l.Measured / l.Base
}

// Met reports whether the figure reaches its limit; false when the base
// was not measured.
func (l Limit) Met() bool { return l.Base > 0 && l.Ratio() >= l.Factor }

// Limits returns the limits of stamp's performance goals (issue 11, goal
// 5) that apply to results, whose issuance was signed with issuedWith:
// durable RS256 issuance at least 0.85× the raw RS256 signing rate;
// durable EdDSA issuance at least 0.5× the trivial handler; introspection
// and /auth/verify at least 0.7× the trivial handler. Issuance with
// another algorithm is held to no limit. A figure whose phase did not run
// is left out.
func Limits(results []Result, issuedWith string) []Limit {
	rate := map[string]float64{}
	for _, r := range results {
		rate[r.Name] = r.Rate()
	}
	var out []Limit
	add := func(name, phase string, factor float64, base string) {
		if m, ok := rate[phase]; ok {
			out = append(out, Limit{Name: name, Measured: m, Base: rate[base], Factor: factor, BaseName: base})
		}
	}
	switch issuedWith {
	case domain.RS256:
		add("issuance ("+issuedWith+")", PhaseIssuance, 0.85, PhaseSigning+" "+domain.RS256)
	case domain.EdDSA:
		add("issuance ("+issuedWith+")", PhaseIssuance, 0.5, PhaseCeiling)
	}
	add(PhaseIntrospection, PhaseIntrospection, 0.7, PhaseCeiling)
	add(PhaseVerify, PhaseVerify, 0.7, PhaseCeiling)
	return out
}

// printLimits writes each limit as a line: the figure, the limit (factor
// × base), the ratio, and whether it is met.
func printLimits(out io.Writer, limits []Limit) {
	if len(limits) == 0 {
		return
	}
	fmt.Fprintf(out, "%-18s %11s %11s %-22s %6s %s\n", "figure", "rate/s", "limit/s", "limit", "ratio", "")
	for _, l := range limits {
		rule := fmt.Sprintf("%.2f× %s", l.Factor, l.BaseName)
		if l.Base <= 0 {
			fmt.Fprintf(out, "%-18s %11.1f %11s %-22s %6s %s\n", l.Name, l.Measured, "-", rule, "-", "not measured")
			continue
		}
		verdict := "not met"
		if l.Met() {
			verdict = "met"
		}
		fmt.Fprintf(out, "%-18s %11.1f %11.1f %-22s %5.2f× %s\n", l.Name, l.Measured, l.Factor*l.Base, rule, l.Ratio(), verdict)
	}
}

// benchSigners returns the token signers of the signing phases: the
// configured key's first, then one of a key generated for the run for
// each of RS256 and EdDSA that the configured key is not. None when
// configured is nil.
func benchSigners(configured crypto.Signer) ([]*domain.TokenSigner, error) {
	if configured == nil {
		return nil, nil
	}
	ts, err := domain.NewTokenSigner(configured)
	if err != nil {
		return nil, err
	}
	out := []*domain.TokenSigner{ts}
	for _, alg := range []string{domain.RS256, domain.EdDSA} {
		if alg == ts.Algorithm() {
			continue
		}
		key, err := domain.GenerateSigningKey(alg, rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate a %s key: %w", alg, err)
		}
		other, err := domain.NewTokenSigner(key)
		if err != nil {
			return nil, err
		}
		out = append(out, other)
	}
	return out, nil
}

// tokenAlgorithm returns the alg of a JWS compact token's header, or ""
// when token is not one.
func tokenAlgorithm(token string) string {
	header, _, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Alg
}
