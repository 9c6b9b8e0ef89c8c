package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

// Bearer tokens every apiHarness knows.
const (
	bearerUser   = "bearer-user"   // testUser's, with "*"
	bearerOther  = "bearer-other"  // another user's, with "*"
	bearerClient = "bearer-client" // client credentials, with "*"
	bearerNarrow = "bearer-narrow" // testUser's, granted "orders" only
	otherUserID  = "user-2"
)

// apiHarness is a server whose validator knows the bearer tokens above.
func apiHarness(t *testing.T) harness {
	t.Helper()
	h := newHarnessWith(t, Deps{}, Options{})
	all := []string{domain.WildcardScope}
	h.tokens.add(bearerUser, domain.AccessToken{ID: "jti-user", ClientID: "cli", UserID: testUser.ID, Scopes: all, GrantType: domain.GrantPassword})
	h.tokens.add(bearerOther, domain.AccessToken{ID: "jti-other", ClientID: "cli", UserID: otherUserID, Scopes: all, GrantType: domain.GrantPassword})
	h.tokens.add(bearerClient, domain.AccessToken{ID: "jti-cc", ClientID: "machine", Scopes: all, GrantType: domain.GrantClientCredentials})
	h.tokens.add(bearerNarrow, domain.AccessToken{ID: "jti-narrow", ClientID: "app", UserID: testUser.ID, Scopes: []string{"orders"}, GrantType: domain.GrantAuthorizationCode})
	return h
}

// apiReq returns a JSON API request with a JSON body (none for "") and
// the bearer token (none for "").
func apiReq(method, path, token, body string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// wantCode fails the test unless rec has status want.
func wantCode(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status: got %v; want %v (body %s)", rec.Code, want, rec.Body.String())
	}
}

// wantFieldError fails the test unless rec is Laravel's 422 naming field.
func wantFieldError(t *testing.T, rec *httptest.ResponseRecorder, field string) {
	t.Helper()
	wantCode(t, rec, http.StatusUnprocessableEntity)
	body := decodeJSON[validationBody](t, rec)
	if body.Message == "" || len(body.Errors[field]) != 1 || len(body.Errors) != 1 {
		t.Errorf("body: got %+v; want a message and one error for %q", body, field)
	}
}

func TestClientLifecycle(t *testing.T) {
	h := apiHarness(t)
	rec := h.do(apiReq(http.MethodPost, pathClients, bearerUser, `{"name":"My App","redirect":"https://app.example/cb, https://app.example/cb2"}`))
	wantCode(t, rec, http.StatusCreated)
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q; want no-store", got)
	}
	created := decodeJSON[map[string]any](t, rec)
	want := map[string]any{
		"id": "client-1", "user_id": testUser.ID, "name": "My App",
		"redirect":               "https://app.example/cb,https://app.example/cb2",
		"redirect_uris":          []any{"https://app.example/cb", "https://app.example/cb2"},
		"grant_types":            []any{domain.GrantAuthorizationCode, domain.GrantRefreshToken},
		"personal_access_client": false, "password_client": false, "revoked": false,
		"created_at": "2025-06-01T12:00:00Z", "updated_at": "2025-06-01T12:00:00Z",
		"secret": "secret-1", "plainSecret": "secret-1",
	}
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("created client (-want +got):\n%s", diff)
	}
	if cmd := h.api.registered[0]; cmd.UserID != testUser.ID || cmd.Public {
		t.Errorf("RegisterClient: got %+v; want a confidential client of %s", cmd, testUser.ID)
	}

	h.api.clients[0].Scopes = []string{"orders"} // set by an operator; PUT must keep it
	rec = h.do(apiReq(http.MethodGet, pathClients, bearerUser, ""))
	wantCode(t, rec, http.StatusOK)
	list := decodeJSON[[]map[string]any](t, rec)
	if len(list) != 1 || list[0]["id"] != "client-1" {
		t.Fatalf("list: got %v; want client-1", list)
	}
	for _, k := range []string{"secret", "plainSecret", "secret_hash"} {
		if _, ok := list[0][k]; ok {
			t.Errorf("list: got a %q field; want none", k)
		}
	}

	rec = h.do(apiReq(http.MethodPut, "/oauth/clients/client-1", bearerUser, `{"name":"Renamed","redirect":"https://app.example/new"}`))
	wantCode(t, rec, http.StatusOK)
	updated := decodeJSON[clientJSON](t, rec)
	if updated.Name != "Renamed" || updated.Redirect != "https://app.example/new" {
		t.Errorf("updated: got %+v; want the new name and redirect", updated)
	}
	if cmd := h.api.updated[0]; cmd.UserID != testUser.ID || !slices.Equal(cmd.Scopes, []string{"orders"}) {
		t.Errorf("UpdateClient: got %+v; want the owner and the scopes kept", cmd)
	}

	rec = h.do(apiReq(http.MethodDelete, "/oauth/clients/client-1", bearerUser, ""))
	wantCode(t, rec, http.StatusNoContent)
	if rec.Body.Len() != 0 {
		t.Errorf("delete body: got %q; want none", rec.Body.String())
	}
	rec = h.do(apiReq(http.MethodGet, pathClients, bearerUser, ""))
	if got := strings.TrimSpace(rec.Body.String()); got != "[]" {
		t.Errorf("list after delete: got %s; want []", got)
	}
}

func TestCreateClientBodies(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		wantURIs                []string
		wantPublic              bool
	}{
		{name: "json redirect list", contentType: "application/json", body: `{"name":"A","redirect":["https://a/1","https://a/2"]}`, wantURIs: []string{"https://a/1", "https://a/2"}},
		{name: "json redirect_uris", contentType: "application/json; charset=utf-8", body: `{"name":"A","redirect_uris":["https://a/1"]}`, wantURIs: []string{"https://a/1"}},
		{name: "json public", contentType: "application/json", body: `{"name":"A","redirect":"https://a/1","confidential":false}`, wantURIs: []string{"https://a/1"}, wantPublic: true},
		{name: "form redirect", contentType: formContentType, body: "name=A&redirect=https%3A%2F%2Fa%2F1%2Chttps%3A%2F%2Fa%2F2", wantURIs: []string{"https://a/1", "https://a/2"}},
		{name: "form redirect_uris[]", contentType: formContentType, body: "name=A&redirect_uris[]=https%3A%2F%2Fa%2F1&redirect_uris[]=https%3A%2F%2Fa%2F2&confidential=0", wantURIs: []string{"https://a/1", "https://a/2"}, wantPublic: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := apiHarness(t)
			r := apiReq(http.MethodPost, pathClients, bearerUser, tt.body)
			r.Header.Set("Content-Type", tt.contentType)
			rec := h.do(r)
			wantCode(t, rec, http.StatusCreated)
			cmd := h.api.registered[0]
			if !slices.Equal(cmd.RedirectURIs, tt.wantURIs) || cmd.Public != tt.wantPublic {
				t.Errorf("RegisterClient: got %q, public %v; want %q, public %v", cmd.RedirectURIs, cmd.Public, tt.wantURIs, tt.wantPublic)
			}
			body := decodeJSON[map[string]any](t, rec)
			if tt.wantPublic && (body["secret"] != nil || body["plainSecret"] != nil) {
				t.Errorf("public client: got secret %v, plainSecret %v; want null", body["secret"], body["plainSecret"])
			}
		})
	}
}

func TestClientValidation(t *testing.T) {
	tests := []struct {
		name, body, field string
	}{
		{name: "no name", body: `{"redirect":"https://a/1"}`, field: "name"},
		{name: "empty body", body: "", field: "name"},
		{name: "no redirect", body: `{"name":"A"}`, field: "redirect"},
		{name: "empty redirect_uris", body: `{"name":"A","redirect_uris":[" "]}`, field: "redirect_uris"},
		{name: "both redirect fields", body: `{"name":"A","redirect":"https://a/1","redirect_uris":["https://a/2"]}`, field: "redirect"},
		{name: "name of the wrong type", body: `{"name":5,"redirect":"https://a/1"}`, field: "name"},
		{name: "redirect of the wrong type", body: `{"name":"A","redirect":{"x":1}}`, field: "redirect"},
		{name: "confidential of the wrong type", body: `{"name":"A","redirect":"https://a/1","confidential":"no"}`, field: "confidential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := apiHarness(t)
			wantFieldError(t, h.do(apiReq(http.MethodPost, pathClients, bearerUser, tt.body)), tt.field)
		})
	}
}

func TestClientBodyRefused(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		want                    int
	}{
		{name: "malformed JSON", contentType: "application/json", body: `{"name":`, want: http.StatusBadRequest},
		{name: "not an object", contentType: "application/json", body: `["A"]`, want: http.StatusBadRequest},
		{name: "another type", contentType: "text/plain", body: "name=A", want: http.StatusUnsupportedMediaType},
		{name: "too large", contentType: "application/json", body: `{"name":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`, want: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := apiHarness(t)
			r := apiReq(http.MethodPost, pathClients, bearerUser, tt.body)
			r.Header.Set("Content-Type", tt.contentType)
			rec := h.do(r)
			wantCode(t, rec, tt.want)
			if msg := decodeJSON[apiMessage](t, rec).Message; msg == "" {
				t.Errorf("body: got %s; want a message", rec.Body.String())
			}
			if len(h.api.registered) != 0 {
				t.Errorf("RegisterClient: called %d times; want never", len(h.api.registered))
			}
		})
	}
}

func TestSomeoneElsesClientIsNotFound(t *testing.T) {
	h := apiHarness(t)
	wantCode(t, h.do(apiReq(http.MethodPost, pathClients, bearerOther, `{"name":"Theirs","redirect":"https://b/cb"}`)), http.StatusCreated)
	for _, r := range []*http.Request{
		apiReq(http.MethodPut, "/oauth/clients/client-1", bearerUser, `{"name":"Mine now","redirect":"https://evil/cb"}`),
		apiReq(http.MethodDelete, "/oauth/clients/client-1", bearerUser, ""),
		apiReq(http.MethodDelete, "/oauth/clients/no-such-client", bearerUser, ""),
	} {
		rec := h.do(r)
		wantCode(t, rec, http.StatusNotFound)
		if got := strings.TrimSpace(rec.Body.String()); got != `{"message":"Not Found."}` {
			t.Errorf("%s %s: body %s; want Laravel's Not Found", r.Method, r.URL.Path, got)
		}
	}
	if c := h.api.clients[0]; c.Name != "Theirs" || c.Deleted {
		t.Errorf("their client: got %+v; want it untouched", c)
	}
	rec := h.do(apiReq(http.MethodGet, pathClients, bearerUser, ""))
	if got := strings.TrimSpace(rec.Body.String()); got != "[]" {
		t.Errorf("my clients: got %s; want []", got)
	}
}

func TestAPIUnexpectedErrorIsLoggedOnce(t *testing.T) {
	h := apiHarness(t)
	h.api.err = errBoom
	rec := h.do(apiReq(http.MethodGet, pathClients, bearerUser, ""))
	wantCode(t, rec, http.StatusInternalServerError)
	if got := strings.TrimSpace(rec.Body.String()); got != `{"message":"Server Error."}` {
		t.Errorf("body: got %s; want a generic message", got)
	}
	if lines := h.logLines(); len(lines) != 1 || !strings.Contains(lines[0], errBoom.Error()) {
		t.Errorf("log: got %q; want one line with the error", lines)
	}
}

// errBoom is an unexpected failure.
var errBoom = errors.New("boom: the read model is gone")

// decodeList decodes a JSON array of objects.
func decodeList(t *testing.T, rec *httptest.ResponseRecorder) []map[string]json.RawMessage {
	t.Helper()
	return decodeJSON[[]map[string]json.RawMessage](t, rec)
}
