package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

// TestRetryErrorsRendered: a refusal to retry later is 429 (too many
// failures) or 503 (busy) with Retry-After in whole seconds, in each
// surface's shape: RFC 6749 JSON with invalid_request on the OAuth
// endpoints, Laravel's message on the JSON API.
func TestRetryErrorsRendered(t *testing.T) {
	limited := &domain.RetryError{Err: domain.ErrRateLimited, After: 2500 * time.Millisecond}
	busy := &domain.RetryError{Err: domain.ErrTemporarilyUnavailable.WithDescription("busy"), After: 300 * time.Millisecond}
	tests := []struct {
		name   string
		render func(*server, http.ResponseWriter, *http.Request, error)
		err    error
		status int
		retry  string
		body   map[string]any
	}{
		{"oauth, limited", (*server).renderError, limited, 429, "3", map[string]any{"error": "invalid_request", "error_description": "too many attempts, retry later"}},
		{"oauth, wrapped", (*server).renderError, errors.Join(errors.New("context"), limited), 429, "3", map[string]any{"error": "invalid_request", "error_description": "too many attempts, retry later"}},
		{"oauth, busy", (*server).renderError, busy, 503, "1", map[string]any{"error": "temporarily_unavailable", "error_description": "busy"}},
		{"oauth, plain sentinel", (*server).renderError, domain.ErrRateLimited, 429, "", map[string]any{"error": "invalid_request", "error_description": "too many attempts, retry later"}},
		{"api, limited", (*server).renderAPIError, limited, 429, "3", map[string]any{"message": "Too Many Attempts."}},
		{"api, busy", (*server).renderAPIError, busy, 503, "1", map[string]any{"message": "Service Unavailable."}},
		// Every 503 says when to retry, also without a RetryError of its own.
		{"oauth, context ended", (*server).renderError, fmt.Errorf("append: %w", context.Canceled), 503, "1", map[string]any{"error": "temporarily_unavailable", "error_description": "the request could not be completed in time; retry it"}},
		{"oauth, plain unavailable", (*server).renderError, domain.ErrTemporarilyUnavailable.WithDescription("later"), 503, "1", map[string]any{"error": "temporarily_unavailable", "error_description": "later"}},
		{"api, context ended", (*server).renderAPIError, context.Canceled, 503, "1", map[string]any{"message": "Service Unavailable."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s := &server{log: slog.New(slog.NewJSONHandler(&logs, nil))}
			rec := httptest.NewRecorder()
			tt.render(s, rec, httptest.NewRequest(http.MethodPost, pathToken, nil), tt.err)
			if rec.Code != tt.status || rec.Header().Get("Retry-After") != tt.retry {
				t.Errorf("got %d, Retry-After %q; want %d, %q", rec.Code, rec.Header().Get("Retry-After"), tt.status, tt.retry)
			}
			if diff := cmp.Diff(tt.body, decodeJSON[map[string]any](t, rec)); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if logs.Len() != 0 {
				t.Errorf("logged %s; want nothing", logs.String())
			}
		})
	}
}

// TestDeviceCodeRateLimited: the user-code form passes the user and the
// address to the lookup, and after too many wrong codes says to wait,
// 429 with Retry-After, the form still there.
func TestDeviceCodeRateLimited(t *testing.T) {
	web := deviceWeb()
	web.lookupErr = &domain.RetryError{Err: domain.ErrRateLimited, After: 25 * time.Second}
	h := webHarness(t, web, Options{})
	_, p := deviceConfirmation(t, h, "ABCD-EFGH")
	wantStatus(t, p, http.StatusTooManyRequests)
	if want := "Too many wrong codes. Wait about 30 seconds, then try again."; !strings.Contains(p.body, want) {
		t.Errorf("page: want %q in:\n%s", want, p.body)
	}
	if got := p.header.Get("Retry-After"); got != "25" {
		t.Errorf("Retry-After: got %q; want 25", got)
	}
	mustForm(t, p, pathDevice, "")
	if want := []string{testUser.ID + " " + testRemote}; !cmp.Equal(web.lookupsBy, want) {
		t.Errorf("lookups by: got %v; want %v", web.lookupsBy, want)
	}
}
