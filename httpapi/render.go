package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// respond writes v as JSON with status. If v cannot be encoded, the
// failure is rendered as an unexpected error instead.
func (s *server) respond(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.renderError(w, r, fmt.Errorf("httpapi: encode response: %w", err))
		return
	}
	writeBody(w, status, b)
}

// writeJSON writes v, which must be a value that always encodes (the
// package's own error documents), as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	writeBody(w, status, b)
}

// writeBody writes an encoded JSON document. A failed write means the
// client is gone; there is no one left to tell.
func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
