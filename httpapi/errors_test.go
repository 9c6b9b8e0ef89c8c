package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

// TestTokenErrors checks every kind of error the service returns reaches
// the client with the right status and code, and no-store.
func TestTokenErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		basic    bool
		status   int
		code     string
		desc     string // "" means: any
		wwwAuth  bool
		wantLogs int
	}{
		{name: "invalid_request", err: domain.ErrInvalidRequest.WithDescription("the grant_type parameter is missing"),
			status: 400, code: "invalid_request", desc: "the grant_type parameter is missing"},
		{name: "invalid_client with basic", err: domain.ErrInvalidClient.WithDescription("client authentication failed"), basic: true,
			status: 401, code: "invalid_client", desc: "client authentication failed", wwwAuth: true},
		{name: "invalid_client with form", err: domain.ErrInvalidClient,
			status: 401, code: "invalid_client", wwwAuth: true},
		{name: "invalid_grant", err: domain.ErrInvalidGrant, status: 400, code: "invalid_grant"},
		{name: "unauthorized_client", err: domain.ErrUnauthorizedClient, status: 400, code: "unauthorized_client"},
		{name: "unsupported_grant_type", err: domain.ErrUnsupportedGrantType, status: 400, code: "unsupported_grant_type"},
		{name: "invalid_scope", err: domain.ErrInvalidScope, status: 400, code: "invalid_scope"},
		{name: "access_denied", err: domain.ErrAccessDenied, status: 400, code: "access_denied"},
		{name: "unsupported_token_type", err: domain.ErrUnsupportedTokenType, status: 400, code: "unsupported_token_type"},
		{name: "authorization_pending", err: domain.ErrAuthorizationPending.WithDescription("the user has not decided yet"),
			status: 400, code: "authorization_pending", desc: "the user has not decided yet"},
		{name: "slow_down", err: domain.ErrSlowDown, status: 400, code: "slow_down"},
		{name: "expired_token", err: domain.ErrExpiredToken, status: 400, code: "expired_token"},
		{name: "access_denied by the device's user", err: domain.ErrAccessDenied.WithDescription("the user denied the request"),
			status: 400, code: "access_denied", desc: "the user denied the request"},
		{name: "rate limited", err: fmt.Errorf("domain: login: %w", domain.ErrRateLimited), status: 429, code: "invalid_request"},
		{name: "server_error from the domain", err: domain.ErrServerError.WithDescription("keys unavailable"),
			status: 500, code: "server_error", desc: "keys unavailable"},
		{name: "wrapped oauth error", err: fmt.Errorf("domain: x: %w", domain.ErrInvalidScope.WithDescription("unknown")),
			status: 400, code: "invalid_scope", desc: "unknown"},
		{name: "not found", err: fmt.Errorf("domain: client %q: %w", "x", domain.ErrNotFound),
			status: 404, code: "not_found"},
		{name: "canceled", err: fmt.Errorf("wait: %w", context.Canceled),
			status: 503, code: "temporarily_unavailable"},
		{name: "deadline", err: fmt.Errorf("wait: %w", context.DeadlineExceeded),
			status: 503, code: "temporarily_unavailable", wantLogs: 1},
		{name: "unknown", err: errors.New("eventstore: append: nats: connection closed"),
			status: 500, code: "server_error", desc: genericServerError, wantLogs: 1},
		{name: "conflict is unexpected here", err: fmt.Errorf("x: %w", domain.ErrConflict),
			status: 500, code: "server_error", desc: genericServerError, wantLogs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, &fakeService{err: tt.err}, nil, Options{})
			r := formPost(pathToken, "grant_type=client_credentials&client_id=c")
			if tt.basic {
				r = formPost(pathToken, "grant_type=client_credentials")
				r.SetBasicAuth("c", "s")
			}
			rec := h.do(r)

			if rec.Code != tt.status {
				t.Errorf("status: got %v; want %v", rec.Code, tt.status)
			}
			got := decodeJSON[errorBody](t, rec)
			if got.Error != tt.code {
				t.Errorf("error: got %v; want %v", got.Error, tt.code)
			}
			if tt.desc != "" && got.Description != tt.desc {
				t.Errorf("error_description: got %q; want %q", got.Description, tt.desc)
			}
			if got, want := rec.Header().Get("WWW-Authenticate"), map[bool]string{true: wwwAuthenticate}[tt.wwwAuth]; got != want {
				t.Errorf("WWW-Authenticate: got %q; want %q", got, want)
			}
			for name, want := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json"} {
				if got := rec.Header().Get(name); got != want {
					t.Errorf("%s: got %q; want %q", name, got, want)
				}
			}
			if got := len(h.logLines()); got != tt.wantLogs {
				t.Errorf("log records: got %v; want %v (%q)", got, tt.wantLogs, h.logLines())
			}
		})
	}
}

// TestUnknownErrorIsLoggedOnceAndHidden: the client sees a generic
// server_error; the log holds the real error once, with method and path.
func TestUnknownErrorIsLoggedOnceAndHidden(t *testing.T) {
	const secret = "pebble: corrupted sstable 000123.sst"
	h := newHarness(t, &fakeService{err: errors.New(secret)}, nil, Options{})
	rec := h.do(formPost(pathRevoke, "token=t&client_id=c"))

	want := errorBody{Error: "server_error", Description: genericServerError}
	if diff := cmp.Diff(want, decodeJSON[errorBody](t, rec)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if strings.Contains(rec.Body.String(), "pebble") {
		t.Errorf("body %q leaks the internal error", rec.Body)
	}
	lines := h.logLines()
	if len(lines) != 1 {
		t.Fatalf("log records: got %v; want %v (%q)", len(lines), 1, lines)
	}
	for _, part := range []string{`"level":"ERROR"`, `"method":"POST"`, `"path":"/oauth/revoke"`, secret} {
		if !strings.Contains(lines[0], part) {
			t.Errorf("log record %s: missing %s", lines[0], part)
		}
	}
}

// TestValidationError renders Laravel's 422 shape, which the JSON API
// will answer a bad field with.
func TestValidationError(t *testing.T) {
	err := fmt.Errorf("register: %w", &domain.ValidationError{Field: "name", Message: "is required"})
	h := newHarness(t, &fakeService{err: err}, nil, Options{})
	rec := h.do(formPost(pathToken, "grant_type=client_credentials"))

	if rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("status: got %v; want %v", rec.Code, http.StatusUnprocessableEntity)
	}
	want := validationBody{Message: validationMessage, Errors: map[string][]string{"name": {"is required"}}}
	if diff := cmp.Diff(want, decodeJSON[validationBody](t, rec)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if got := len(h.logLines()); got != 0 {
		t.Errorf("log records: got %v; want %v", got, 0)
	}
}
