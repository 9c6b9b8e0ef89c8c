package integration

import (
	"os"
	"strings"
	"testing"
)

// TestBenchLimits runs `stamp bench` against a node of this process, for
// profiling the server at the load of the goal 5 (16 concurrent
// requests): raw signing, the trivial handler, durable issuance,
// introspection and /auth/verify, each figure beside its limit. Every
// run drives each phase briefly (EdDSA, 300 ms) and checks the limit
// lines; for figures, STAMP_BENCH_LIMITS names the algorithm (RS256 or
// EdDSA) and each phase runs 5 s:
//
//	STAMP_BENCH_LIMITS=EdDSA go test ./integration/ -run TestBenchLimits -v -count=1 -cpuprofile cpu.out
//
// The load generator runs in the same process, so a profile shows its
// share too (the loadgen package's frames).
func TestBenchLimits(t *testing.T) {
	alg, duration := os.Getenv("STAMP_BENCH_LIMITS"), "5s"
	if alg == "" {
		// Every run checks that the bench runs every phase and prints
		// every limit line; the figures want the longer run above.
		alg, duration = "EdDSA", "300ms"
	}
	e := newEnv(t, "STAMP_SIGNING_ALGORITHM", alg, "STAMP_BENCH_CEILING_ROUTE", "true", "STAMP_ACCESS_LOG", "false")
	n := e.start()
	code, out, errOut := e.run("bench", "--url", n.HTTPURL(), "--duration", duration, "--concurrency", "16")
	t.Logf("stamp bench:\n%s%s", out, errOut)
	if code != 0 {
		t.Fatalf("stamp bench: exit %d", code)
	}
	for _, want := range []string{"issuance (" + alg + ")", "introspection", "verify"} {
		if !strings.Contains(out, want) {
			t.Errorf("stamp bench printed no limit line for %s", want)
		}
	}
}
