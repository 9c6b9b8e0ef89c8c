package guard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestReadyHandlerFollowsTheFeed(t *testing.T) {
	f := newFixture(t)
	h := f.g.ReadyHandler()
	probe := func() (int, http.Header, map[string]any) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health/ready", nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", rec.Body.String(), err)
		}
		return rec.Code, rec.Header(), body
	}
	if code, _, body := probe(); code != http.StatusOK || body["ready"] != true || !f.g.Ready() {
		t.Errorf("current feed: %d %v; want 200 ready", code, body)
	}
	f.sink.Current(false)
	if code, hdr, body := probe(); code != http.StatusServiceUnavailable || body["ready"] != false || hdr.Get("Retry-After") != "1" || f.g.Ready() {
		t.Errorf("feed not current: %d %v (Retry-After %q); want 503 not ready with Retry-After 1", code, body, hdr.Get("Retry-After"))
	}
}
