package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

func TestMetadata(t *testing.T) {
	const base = "https://auth.example.com"
	common := map[string]any{
		"token_endpoint":                                base + "/oauth/token",
		"jwks_uri":                                      base + "/.well-known/jwks.json",
		"introspection_endpoint":                        base + "/oauth/introspect",
		"revocation_endpoint":                           base + "/oauth/revoke",
		"scopes_supported":                              []any{"read", "write"},
		"token_endpoint_auth_methods_supported":         []any{"client_secret_basic", "client_secret_post", "none"},
		"introspection_endpoint_auth_methods_supported": []any{"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":    []any{"client_secret_basic", "client_secret_post", "none"},
	}
	with := func(fields map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range common {
			out[k] = v
		}
		for k, v := range fields {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name   string
		issuer string
		grants []string
		want   map[string]any
	}{
		{
			name: "client credentials only", issuer: base, grants: []string{"client_credentials"},
			want: with(map[string]any{
				"issuer":                   base,
				"grant_types_supported":    []any{"client_credentials"},
				"response_types_supported": []any{},
			}),
		},
		{
			name: "no grant", issuer: base + "/",
			want: with(map[string]any{
				"issuer":                   base + "/",
				"grant_types_supported":    []any{},
				"response_types_supported": []any{},
			}),
		},
		{
			name: "every grant", issuer: base + "/",
			grants: []string{
				domain.GrantAuthorizationCode, domain.GrantImplicit, domain.GrantRefreshToken,
				domain.GrantClientCredentials, domain.GrantPassword, domain.GrantDeviceCode,
			},
			want: with(map[string]any{
				"issuer":                 base + "/",
				"authorization_endpoint": base + "/oauth/authorize",
				"grant_types_supported": []any{
					"authorization_code", "implicit", "refresh_token", "client_credentials", "password",
					"urn:ietf:params:oauth:grant-type:device_code",
				},
				"response_types_supported":                       []any{"code", "token"},
				"code_challenge_methods_supported":               []any{"S256", "plain"},
				"device_authorization_endpoint":                  base + "/oauth/device/code",
				"authorization_response_iss_parameter_supported": true,
			}),
		},
		{
			name: "device without authorization endpoint", issuer: base, grants: []string{domain.GrantDeviceCode},
			want: with(map[string]any{
				"issuer":                        base,
				"grant_types_supported":         []any{"urn:ietf:params:oauth:grant-type:device_code"},
				"response_types_supported":      []any{},
				"device_authorization_endpoint": base + "/oauth/device/code",
			}),
		},
		{
			name: "implicit without code", issuer: base, grants: []string{domain.GrantImplicit},
			want: with(map[string]any{
				"issuer":                   base,
				"authorization_endpoint":   base + "/oauth/authorize",
				"grant_types_supported":    []any{"implicit"},
				"response_types_supported": []any{"token"},
				"authorization_response_iss_parameter_supported": true,
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{scopes: mustScopes(t,
				domain.Scope{ID: "read", Description: "Read"}, domain.Scope{ID: "write", Description: "Write"})}
			h := newHarness(t, svc, nil, Options{Issuer: tt.issuer, GrantTypes: tt.grants})
			rec := h.do(httptest.NewRequest(http.MethodGet, pathMetadata, nil))

			if rec.Code != http.StatusOK {
				t.Fatalf("status: got %v; want %v", rec.Code, http.StatusOK)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type: got %q; want %q", got, "application/json")
			}
			if diff := cmp.Diff(tt.want, decodeJSON[map[string]any](t, rec)); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	jwk := func(kid string) json.RawMessage {
		return json.RawMessage(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"` + kid + `","use":"sig","alg":"EdDSA"}`)
	}
	key := func(kid string, retired bool, verifyUntil time.Time) domain.SigningKey {
		return domain.SigningKey{ID: kid, Algorithm: domain.EdDSA, PublicKey: jwk(kid), Retired: retired, VerifyUntil: verifyUntil}
	}
	tests := []struct {
		name string
		keys []domain.SigningKey
		want []string // kids
	}{
		{name: "none", want: []string{}},
		{
			name: "current and retired",
			keys: []domain.SigningKey{
				key("current", false, time.Time{}),
				key("retired-still-verifies", true, testNow.Add(time.Minute)),
				key("retired-expired", true, testNow.Add(-time.Second)),
				key("retired-at-now", true, testNow),
			},
			want: []string{"current", "retired-still-verifies"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, &fakeService{}, fakeKeys{keys: tt.keys}, Options{})
			rec := h.do(httptest.NewRequest(http.MethodGet, pathJWKS, nil))

			if rec.Code != http.StatusOK {
				t.Fatalf("status: got %v; want %v", rec.Code, http.StatusOK)
			}
			if got, want := rec.Header().Get("Cache-Control"), "public, max-age=60"; got != want {
				t.Errorf("Cache-Control: got %q; want %q", got, want)
			}
			set := decodeJSON[struct {
				Keys []map[string]any `json:"keys"`
			}](t, rec)
			if set.Keys == nil {
				t.Fatalf("body %s: want a keys array", rec.Body)
			}
			kids := []string{}
			for _, k := range set.Keys {
				kids = append(kids, k["kid"].(string))
				if k["kty"] != "OKP" || k["x"] == nil {
					t.Errorf("key %v: want the public JWK as announced", k)
				}
			}
			if diff := cmp.Diff(tt.want, kids); diff != "" {
				t.Errorf("kids (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJWKSListError(t *testing.T) {
	h := newHarness(t, &fakeService{}, fakeKeys{err: errors.New("pebble: closed")}, Options{})
	rec := h.do(httptest.NewRequest(http.MethodGet, pathJWKS, nil))

	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status: got %v; want %v", rec.Code, http.StatusInternalServerError)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q; want %q (an error must not be cached)", got, "no-store")
	}
	if got := len(h.logLines()); got != 1 {
		t.Errorf("log records: got %v; want %v", got, 1)
	}
}

func TestScopes(t *testing.T) {
	tests := []struct {
		name   string
		scopes []domain.Scope
		want   string
	}{
		{name: "none", want: "[]\n"},
		{
			name:   "catalogue order",
			scopes: []domain.Scope{{ID: "write", Description: "Write things"}, {ID: "read", Description: "Read things"}},
			want:   `[{"id":"write","description":"Write things"},{"id":"read","description":"Read things"}]` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, &fakeService{scopes: mustScopes(t, tt.scopes...)}, nil, Options{})
			rec := h.do(httptest.NewRequest(http.MethodGet, pathScopes, nil))
			if rec.Code != http.StatusOK {
				t.Errorf("status: got %v; want %v", rec.Code, http.StatusOK)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("body: got %s; want %s", got, tt.want)
			}
		})
	}
}
