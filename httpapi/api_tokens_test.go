package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

// userToken returns a live token of userID through client c.
func userToken(id, userID, name string, c domain.Client) domain.UserToken {
	return domain.UserToken{
		Token: domain.AccessToken{
			ID: id, ClientID: c.ID, UserID: userID, Name: name, Scopes: []string{"orders"},
			IssuedAt: testNow, ExpiresAt: testNow.Add(time.Hour),
		},
		Client: c,
	}
}

var (
	thirdParty = domain.Client{
		ID: "app-1", Name: "Orders App", Grants: []string{domain.GrantAuthorizationCode},
		RedirectURIs: []string{"https://orders.example/cb"}, CreatedAt: testNow, UpdatedAt: testNow,
	}
	personalClient = domain.Client{ID: "personal-client", Name: "Personal", Grants: []string{domain.GrantPersonalAccess}, CreatedAt: testNow, UpdatedAt: testNow}
)

func TestAuthorizedTokens(t *testing.T) {
	h := apiHarness(t)
	h.api.authorized = []domain.UserToken{
		userToken("tok-1", testUser.ID, "", thirdParty),
		userToken("tok-2", otherUserID, "", thirdParty),
	}
	rec := h.do(apiReq(http.MethodGet, pathTokens, bearerUser, ""))
	wantCode(t, rec, http.StatusOK)
	got := decodeJSON[[]map[string]any](t, rec)
	want := []map[string]any{{
		"id": "tok-1", "user_id": testUser.ID, "client_id": "app-1", "name": nil,
		"scopes": []any{"orders"}, "revoked": false,
		"created_at": "2025-06-01T12:00:00Z", "updated_at": "2025-06-01T12:00:00Z", "expires_at": "2025-06-01T13:00:00Z",
		"client": map[string]any{
			"id": "app-1", "user_id": nil, "name": "Orders App",
			"redirect": "https://orders.example/cb", "redirect_uris": []any{"https://orders.example/cb"},
			"grant_types": []any{domain.GrantAuthorizationCode}, "personal_access_client": false,
			"password_client": false, "revoked": false,
			"created_at": "2025-06-01T12:00:00Z", "updated_at": "2025-06-01T12:00:00Z",
		},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}

	wantCode(t, h.do(apiReq(http.MethodDelete, "/oauth/tokens/tok-2", bearerUser, "")), http.StatusNotFound)
	wantCode(t, h.do(apiReq(http.MethodDelete, "/oauth/tokens/tok-1", bearerUser, "")), http.StatusNoContent)
	if !slices.Equal(h.api.revoked, []string{"tok-1"}) {
		t.Errorf("RevokeUserToken: got %q; want tok-1 only", h.api.revoked)
	}
	rec = h.do(apiReq(http.MethodGet, pathTokens, bearerUser, ""))
	if got := strings.TrimSpace(rec.Body.String()); got != "[]" {
		t.Errorf("after revoking: got %s; want []", got)
	}
}

func TestPersonalAccessTokens(t *testing.T) {
	h := apiHarness(t)
	rec := h.do(apiReq(http.MethodPost, pathPersonalTokens, bearerUser, `{"name":"CLI","scopes":["orders","profile"]}`))
	wantCode(t, rec, http.StatusOK)
	got := decodeJSON[map[string]any](t, rec)
	want := map[string]any{
		"accessToken": "raw-pat-1",
		"token": map[string]any{
			"id": "pat-1", "user_id": testUser.ID, "client_id": "personal-client", "name": "CLI",
			"scopes": []any{"orders", "profile"}, "revoked": false,
			"created_at": "2025-06-01T12:00:00Z", "updated_at": "2025-06-01T12:00:00Z", "expires_at": "2026-06-01T12:00:00Z",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("created token (-want +got):\n%s", diff)
	}

	h.api.personal = []domain.UserToken{
		userToken("pat-9", testUser.ID, "Deploy", personalClient),
		userToken("pat-8", otherUserID, "Theirs", personalClient),
	}
	list := decodeList(t, h.do(apiReq(http.MethodGet, pathPersonalTokens, bearerUser, "")))
	if len(list) != 1 || string(list[0]["id"]) != `"pat-9"` || string(list[0]["name"]) != `"Deploy"` || list[0]["client"] == nil {
		t.Errorf("list: got %v; want pat-9 with its client", list)
	}
	wantCode(t, h.do(apiReq(http.MethodDelete, "/oauth/personal-access-tokens/pat-8", bearerUser, "")), http.StatusNotFound)
	wantCode(t, h.do(apiReq(http.MethodDelete, "/oauth/personal-access-tokens/pat-9", bearerUser, "")), http.StatusNoContent)
	if !slices.Equal(h.api.revoked, []string{"pat-9"}) {
		t.Errorf("RevokeUserToken: got %q; want pat-9 only", h.api.revoked)
	}
}

func TestPersonalAccessTokenBodies(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		wantName                string
		wantScopes              []string
	}{
		{name: "json list", contentType: "application/json", body: `{"name":"A","scopes":["a","b","a"]}`, wantName: "A", wantScopes: []string{"a", "b"}},
		{name: "json string", contentType: "application/json", body: `{"name":"A","scopes":"a b"}`, wantName: "A", wantScopes: []string{"a", "b"}},
		{name: "json no scopes", contentType: "application/json", body: `{"name":"A"}`, wantName: "A", wantScopes: []string{}},
		{name: "form scopes[]", contentType: formContentType, body: "name=A&scopes[]=a&scopes[]=b", wantName: "A", wantScopes: []string{"a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := apiHarness(t)
			r := apiReq(http.MethodPost, pathPersonalTokens, bearerUser, tt.body)
			r.Header.Set("Content-Type", tt.contentType)
			wantCode(t, h.do(r), http.StatusOK)
			if h.api.patNames[0] != tt.wantName || !slices.Equal(h.api.patScopes[0], tt.wantScopes) {
				t.Errorf("CreatePersonalAccessToken: got %q %q; want %q %q", h.api.patNames[0], h.api.patScopes[0], tt.wantName, tt.wantScopes)
			}
		})
	}
}

func TestPersonalAccessTokenValidation(t *testing.T) {
	tests := []struct{ name, body, field string }{
		{name: "no name", body: `{"scopes":["a"]}`, field: "name"},
		{name: "unknown scope", body: `{"name":"A","scopes":["unknown"]}`, field: "scopes"},
		{name: "scopes of the wrong type", body: `{"name":"A","scopes":7}`, field: "scopes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := apiHarness(t)
			wantFieldError(t, h.do(apiReq(http.MethodPost, pathPersonalTokens, bearerUser, tt.body)), tt.field)
		})
	}
}
