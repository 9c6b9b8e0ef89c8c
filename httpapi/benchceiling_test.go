package httpapi

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestBenchCeilingOnlyWhenAllowed: GET /bench/ceiling exists only with
// Options.BenchCeiling, and then answers 200 with constant JSON.
func TestBenchCeilingOnlyWhenAllowed(t *testing.T) {
	route := Route{http.MethodGet, PathBenchCeiling}
	off := newHarness(t, &fakeService{}, nil, Options{})
	if slices.Contains(Routes(off.handler), route) {
		t.Errorf("a server without BenchCeiling registers %s %s", route.Method, route.Path)
	}
	if rec := off.do(httptest.NewRequest(http.MethodGet, PathBenchCeiling, nil)); rec.Code != http.StatusNotFound {
		t.Errorf("without BenchCeiling: status %d; want 404", rec.Code)
	}

	on := newHarness(t, &fakeService{}, nil, Options{BenchCeiling: true})
	if !slices.Contains(Routes(on.handler), route) {
		t.Errorf("a server with BenchCeiling does not register %s %s", route.Method, route.Path)
	}
	rec := on.do(httptest.NewRequest(http.MethodGet, PathBenchCeiling, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d; want 200 (body %s)", rec.Code, rec.Body)
	}
	if got, want := rec.Header().Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type %q; want %q", got, want)
	}
	if got, want := rec.Body.String(), "{\"active\":true}\n"; got != want {
		t.Errorf("body %q; want %q", got, want)
	}
	if rec := on.do(httptest.NewRequest(http.MethodPost, PathBenchCeiling, nil)); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d; want 405", rec.Code)
	}
}
