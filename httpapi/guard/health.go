package guard

import "net/http"

// The bodies of ReadyHandler, in the shape of stamp's GET /health/ready.
const (
	readyBody    = `{"ready":true,"checks":[{"name":"revocations","ok":true}]}`
	notReadyBody = `{"ready":false,"checks":[{"name":"revocations","ok":false,"reason":"the revocation feed is not current"}]}`
)

// Ready reports whether the guard is ready to accept tokens: its
// revocation feed is current (see Current). Safe for concurrent use.
func (g *Guard) Ready() bool { return g.Current() }

// ReadyHandler answers a readiness probe for the guard's revocation feed:
// 200 while it is current, else 503 with Retry-After: 1 (as the guard's
// own refusals), both with a JSON body listing the check, in the shape of
// stamp's GET /health/ready. Mount it where the resource server's probe
// looks (for example /health/ready).
func (g *Guard) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.Ready() {
			writeJSON(w, http.StatusOK, "", readyBody)
			return
		}
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, "", notReadyBody)
	})
}
