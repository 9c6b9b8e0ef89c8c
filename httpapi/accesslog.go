package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"
)

// requestIDHeader carries a request's id: taken from a trusted proxy when
// it sent a well-formed one, else generated; always sent back.
const requestIDHeader = "X-Request-Id"

// maxLoggedPath bounds the path logged for a request no route matched.
const maxLoggedPath = 200

// accessLog wraps next so that every request writes one record to log
// (level info, message "http request") once answered, with:
// method, route (the route's pattern, such as /oauth/clients/:id; the
// path, cut to maxLoggedPath, when no route matched), status, bytes (of
// the body written), duration, client (clientAddr: the peer, or the
// address a trusted proxy names) and request_id.
//
// It never logs a query string, a header (Authorization, Cookie) or a
// form value, so no secret, code or token reaches the log through it.
// The request id is also set as X-Request-Id on the answer. Safe for
// concurrent use.
func (s *server) accessLog(next http.Handler, router *httprouter.Router, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := s.requestID(r)
		w.Header().Set(requestIDHeader, id)
		cw := &countingWriter{ResponseWriter: w}
		defer func() {
			// Logged even when a handler panics through (ErrAbortHandler).
			status := cw.status
			if status == 0 {
				status = http.StatusOK
			}
			log.LogAttrs(context.Background(), slog.LevelInfo, "http request",
				slog.String("method", r.Method),
				slog.String("route", routeOf(router, r)),
				slog.Int("status", status),
				slog.Int64("bytes", cw.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("client", s.clientAddr(r)),
				slog.String("request_id", id),
			)
		}()
		next.ServeHTTP(cw, r)
	})
}

// routeOf returns the pattern of the route r matched: its path with each
// parameter's value replaced by its name, from the last parameter back
// (every parameter of ours is a whole segment with no static segment
// after it). A request no route matched gives its path, cut to
// maxLoggedPath; never the query.
func routeOf(router *httprouter.Router, r *http.Request) string {
	path := r.URL.Path
	h, ps, _ := router.Lookup(r.Method, path)
	if h == nil {
		if len(path) > maxLoggedPath {
			path = path[:maxLoggedPath] + "…"
		}
		return path
	}
	end := len(path)
	for i := len(ps) - 1; i >= 0; i-- {
		at := strings.LastIndex(path[:end], "/"+ps[i].Value)
		if at < 0 {
			break
		}
		path = path[:at] + "/:" + ps[i].Key + path[at+1+len(ps[i].Value):]
		end = at
	}
	return path
}

// requestID returns the id of r: a trusted proxy's X-Request-Id when it
// is 1 to 64 characters of [A-Za-z0-9._-], else 16 random hex digits.
func (s *server) requestID(r *http.Request) string {
	if id := r.Header.Get(requestIDHeader); id != "" && validRequestID(id) && s.fromTrustedProxy(r) {
		return id
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}

func validRequestID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// countingWriter records the status and counts the body bytes written.
// Unwrap lets http.ResponseController reach the connection's writer.
type countingWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
