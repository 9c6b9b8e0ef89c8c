package httpapi

import (
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// PathBenchCeiling is the trivial JSON handler `stamp bench` measures as
// the ceiling of the HTTP stack and the load generator (see
// Options.BenchCeiling). It is registered only when benchmarking is
// allowed: `stamp serve --dev`, or the bench_ceiling_route setting.
const PathBenchCeiling = "/bench/ceiling"

// benchCeilingBody is the constant answer of GET /bench/ceiling, about
// the size of an introspection answer's first line.
var benchCeilingBody = []byte(`{"active":true}`)

// benchCeiling answers 200 with a constant JSON object through the same
// router and middleware (access log, metrics, tracing) as every other
// route, and touches no read model, key or log: what is left is the cost
// of HTTP, routing and the load generator.
func benchCeiling(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) {
	w.Header().Set("Cache-Control", "no-store")
	writeBody(w, http.StatusOK, benchCeilingBody)
}
