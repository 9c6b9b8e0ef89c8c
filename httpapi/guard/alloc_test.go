package guard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// TestGuardAllocations: a request through the middleware allocates what
// parsing the token allocates plus the request's new context (the context
// value, the context and the request copy), however many revocations the
// guard holds.
func TestGuardAllocations(t *testing.T) {
	f := newFixture(t)
	for i := range 1000 {
		f.sink.Revoked(fmt.Sprintf("other-%d", i), f.clock.Now().Add(time.Hour))
	}
	raw := f.sign(f.claims(), nil)
	keys := f.g.keys.current()
	l := lookup{set: *keys}
	parse := testing.AllocsPerRun(200, func() {
		if _, err := domain.ParseAccessToken(raw, testIssuer, l.key, f.clock.Now(), 0); err != nil {
			t.Fatal(err)
		}
	})
	h := f.g.Auth(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+raw)
	guarded := testing.AllocsPerRun(200, func() { h.ServeHTTP(discard{}, req) })
	t.Logf("allocations: ParseAccessToken %.0f, through the middleware %.0f", parse, guarded)
	if guarded > parse+3 {
		t.Errorf("the middleware allocates %.0f times per request, parsing %.0f; want at most 3 more (the request's context)", guarded, parse)
	}
}
