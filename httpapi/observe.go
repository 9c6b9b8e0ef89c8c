package httpapi

import (
	"context"
	"net/http"

	"github.com/julienschmidt/httprouter"
)

// pathMetrics is where Options.Metrics is served.
const pathMetrics = "/metrics"

// Observer watches the requests the handler New returns serves: the hook
// of metrics and tracing, which live outside this package.
//
// Begin is called as a request arrives, with the pattern of the route it
// matched (such as /oauth/clients/:id; "" when no route matched, so a raw
// path never becomes a label). The context it returns is the one the
// request is served with (a tracer puts its span there); end is called
// exactly once, when the handler has returned (also when it panicked), with
// the status written (200 when none was). Implementations must be safe for
// concurrent use.
type Observer interface {
	Begin(r *http.Request, route string) (ctx context.Context, end func(status int))
}

// observe wraps next so that o sees every request.
func observe(next http.Handler, router *httprouter.Router, o Observer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := ""
		if h, _, _ := router.Lookup(r.Method, r.URL.Path); h != nil {
			route = routeOf(router, r)
		}
		ctx, end := o.Begin(r, route)
		cw := &countingWriter{ResponseWriter: w}
		defer func() {
			status := cw.status
			if status == 0 {
				status = http.StatusOK
			}
			end(status)
		}()
		next.ServeHTTP(cw, r.WithContext(ctx))
	})
}

// serveMetrics answers GET /metrics with Options.Metrics.
func (s *server) serveMetrics(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.opts.Metrics.ServeHTTP(w, r)
}
