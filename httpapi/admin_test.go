package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// stubAdmin is an Admin for the guard and routing tests: a user is
// unknown, every user id taken; any other method panics (nil interface).
type stubAdmin struct {
	Admin
	actors []domain.Actor
}

func (a *stubAdmin) UserByID(_ context.Context, id string) (domain.User, error) {
	return domain.User{}, fmt.Errorf("stub: user %q: %w", id, domain.ErrNotFound)
}

func (a *stubAdmin) RegisterExternalUser(_ context.Context, actor domain.Actor, cmd domain.ExternalUser) (domain.User, error) {
	a.actors = append(a.actors, actor)
	if cmd.Email == "" {
		return domain.User{}, &domain.ValidationError{Field: "email", Message: "is required"}
	}
	return domain.User{}, fmt.Errorf("stub: %w", domain.ErrUserExists)
}

// TestAdminRoutesRegistered checks that a server with Deps.Admin serves
// every admin operation openapi.json describes, and one without none.
func TestAdminRoutesRegistered(t *testing.T) {
	with := Routes(newHarnessWith(t, Deps{Admin: &stubAdmin{}}, Options{}).handler)
	without := Routes(newHarness(t, &fakeService{}, nil, Options{}).handler)
	n := 0
	for _, op := range documentedOperations(t) {
		if !strings.HasPrefix(op.Path, "/admin/") {
			continue
		}
		n++
		if op.onlyWith != "admin" {
			t.Errorf("%s %s: x-stamp-only-with %q; want admin", op.Method, op.Path, op.onlyWith)
		}
		if !slices.Contains(with, op.Route) {
			t.Errorf("a server with Deps.Admin does not register %s %s", op.Method, op.Path)
		}
		if slices.Contains(without, op.Route) {
			t.Errorf("a server without Deps.Admin registers %s %s", op.Method, op.Path)
		}
	}
	if n < 17 {
		t.Errorf("openapi.json describes %d admin operations; want 17", n)
	}
}

// TestAdminGuard checks who reaches the admin API and how a refusal
// reads: JSON with an error code, the right status and challenge.
func TestAdminGuard(t *testing.T) {
	tokens := newFakeTokens()
	tokens.add("admin", domain.AccessToken{ID: "j1", ClientID: "backend", GrantType: domain.GrantClientCredentials, Scopes: []string{"admin"}})
	tokens.add("machine", domain.AccessToken{ID: "j2", ClientID: "machine", GrantType: domain.GrantClientCredentials, Scopes: []string{"read"}})
	tokens.add("wildcard", domain.AccessToken{ID: "j3", ClientID: "machine", GrantType: domain.GrantClientCredentials, Scopes: []string{"*"}})
	tokens.add("user", domain.AccessToken{ID: "j4", ClientID: "app", UserID: testUser.ID, GrantType: domain.GrantAuthorizationCode, Scopes: []string{"admin"}})
	tokens.add("revoked", domain.AccessToken{ID: "j5", ClientID: "backend", GrantType: domain.GrantClientCredentials, Scopes: []string{"admin"}, Revoked: true})
	admin := &stubAdmin{}
	h := newHarnessWith(t, Deps{Admin: admin, Validator: tokens}, Options{})
	for _, tt := range []struct {
		name, method, path, bearer, ctype, body string
		status                                  int
		code, challenge                         string
	}{
		{"no token", "GET", "/admin/users/u1", "", "", "", 401, "unauthorized", "Bearer realm"},
		{"invalid token", "GET", "/admin/users/u1", "nope", "", "", 401, "invalid_token", `Bearer error="invalid_token"`},
		{"revoked token", "GET", "/admin/users/u1", "revoked", "", "", 401, "invalid_token", `Bearer error="invalid_token"`},
		{"no admin scope", "GET", "/admin/users/u1", "machine", "", "", 403, "insufficient_scope", `Bearer error="insufficient_scope", scope="admin"`},
		{"* does not cover admin", "GET", "/admin/users/u1", "wildcard", "", "", 403, "insufficient_scope", `scope="admin"`},
		{"a user's token", "GET", "/admin/users/u1", "user", "", "", 403, "insufficient_scope", `scope="admin"`},
		{"unknown user", "GET", "/admin/users/u1", "admin", "", "", 404, "not_found", ""},
		{"taken id", "POST", "/admin/users", "admin", "application/json", `{"external_id":"u1","email":"a@example.com"}`, 409, "conflict", ""},
		{"missing email", "POST", "/admin/users", "admin", "application/json", `{"external_id":"u1"}`, 422, "invalid_request", ""},
		{"unknown field", "POST", "/admin/users", "admin", "application/json", `{"emial":"a@example.com"}`, 422, "invalid_request", ""},
		{"wrong type", "POST", "/admin/users", "admin", "application/json", `{"email":5}`, 422, "invalid_request", ""},
		{"bad JSON", "POST", "/admin/users", "admin", "application/json", `{"email":`, 400, "invalid_request", ""},
		{"not an object", "POST", "/admin/users", "admin", "application/json", `["a"]`, 400, "invalid_request", ""},
		{"a form", "POST", "/admin/users", "admin", "application/x-www-form-urlencoded", `email=a`, 415, "invalid_request", ""},
		{"wrong method", "PUT", "/admin/users", "admin", "", "", 405, "method_not_allowed", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			rec := h.do(req)
			var body struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if rec.Code != tt.status || body.Error != tt.code || body.Description == "" {
				t.Errorf("got %d %+v; want %d %s with a description", rec.Code, body, tt.status, tt.code)
			}
			if got := rec.Header().Get("WWW-Authenticate"); !strings.Contains(got, tt.challenge) || (tt.challenge == "" && tt.status != 405 && got != "") {
				t.Errorf("WWW-Authenticate %q; want %q", got, tt.challenge)
			}
			if rec.Code != http.StatusMethodNotAllowed && rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q; want no-store", rec.Header().Get("Cache-Control"))
			}
		})
	}
	for _, a := range admin.actors {
		if a != (domain.Actor{Kind: domain.ActorClient, ID: "backend"}) {
			t.Errorf("actor %+v; want the calling client", a)
		}
	}
	if len(admin.actors) == 0 {
		t.Errorf("no request reached the service")
	}
}
