package httpapi

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

func TestTokenSuccess(t *testing.T) {
	svc := &fakeService{tokenResp: domain.TokenResponse{
		AccessToken: "eyJ.a.b", TokenType: "Bearer", ExpiresIn: 3600, Scope: "read write",
	}}
	h := newHarness(t, svc, nil, Options{})
	r := formPost(pathToken+"?grant_type=ignored", "grant_type=client_credentials&scope=read+write&audience=api&empty=")
	r.SetBasicAuth("client-1", "s3cret")
	rec := h.do(r)

	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %v; want %v (body %s)", rec.Code, http.StatusOK, rec.Body)
	}
	for name, want := range map[string]string{
		"Content-Type":  "application/json",
		"Cache-Control": "no-store",
		"Pragma":        "no-cache",
	} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s: got %q; want %q", name, got, want)
		}
	}
	wantBody := map[string]any{
		"access_token": "eyJ.a.b", "token_type": "Bearer", "expires_in": 3600.0, "scope": "read write",
	}
	if diff := cmp.Diff(wantBody, decodeJSON[map[string]any](t, rec)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	wantReq := domain.TokenRequest{
		GrantType: "client_credentials",
		Client:    domain.ClientCredentials{ID: "client-1", Secret: "s3cret", Basic: true, Remote: "192.0.2.1"},
		Scope:     "read write",
		Form:      map[string]string{"audience": "api"},
		Remote:    "192.0.2.1",
	}
	if diff := cmp.Diff(wantReq, svc.tokenReq); diff != "" {
		t.Errorf("token request (-want +got):\n%s", diff)
	}
}

func TestTokenClientAuthentication(t *testing.T) {
	const grant = "grant_type=client_credentials"
	tests := []struct {
		name      string
		body      string
		basicID   string // set with basicPass to send HTTP Basic, already encoded
		basicPass string
		header    string // a raw Authorization header, when set
		want      domain.ClientCredentials
	}{
		{
			name: "basic", body: grant, basicID: "client-1", basicPass: "s3cret",
			want: domain.ClientCredentials{ID: "client-1", Secret: "s3cret", Basic: true},
		},
		{
			name: "basic form-urlencoded per RFC 6749 2.3.1", body: grant,
			basicID: url.QueryEscape("id:with/colon"), basicPass: url.QueryEscape("p@ss w+rd:é%"),
			want: domain.ClientCredentials{ID: "id:with/colon", Secret: "p@ss w+rd:é%", Basic: true},
		},
		{
			name: "basic with the same client_id in the form", body: grant + "&client_id=client-1",
			basicID: "client-1", basicPass: "s3cret",
			want: domain.ClientCredentials{ID: "client-1", Secret: "s3cret", Basic: true},
		},
		{
			name: "basic public client, empty secret", body: grant, basicID: "client-1", basicPass: "",
			want: domain.ClientCredentials{ID: "client-1", Basic: true},
		},
		{
			name: "form fields", body: grant + "&client_id=client-1&client_secret=s%2B3cret",
			want: domain.ClientCredentials{ID: "client-1", Secret: "s+3cret"},
		},
		{
			name: "form public client", body: grant + "&client_id=client-1",
			want: domain.ClientCredentials{ID: "client-1"},
		},
		{
			name: "empty form fields are omitted", body: grant + "&client_id=client-1&client_secret=",
			want: domain.ClientCredentials{ID: "client-1"},
		},
		{
			name: "another scheme is not client authentication", body: grant + "&client_id=client-1&client_secret=x",
			header: "Bearer abc",
			want:   domain.ClientCredentials{ID: "client-1", Secret: "x"},
		},
		{
			name: "none", body: grant,
			want: domain.ClientCredentials{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			h := newHarness(t, svc, nil, Options{})
			r := formPost(pathToken, tt.body)
			if tt.basicID != "" {
				r.SetBasicAuth(tt.basicID, tt.basicPass)
			}
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			rec := h.do(r)
			if rec.Code != http.StatusOK {
				t.Fatalf("status: got %v; want %v (body %s)", rec.Code, http.StatusOK, rec.Body)
			}
			tt.want.Remote = "192.0.2.1" // httptest's peer, see TestClientAddr
			if diff := cmp.Diff(tt.want, svc.tokenReq.Client); diff != "" {
				t.Errorf("client (-want +got):\n%s", diff)
			}
			if got := len(svc.tokenReq.Form); got != 0 {
				t.Errorf("form: got %v; want no parameter left", svc.tokenReq.Form)
			}
		})
	}
}

// TestTokenRejectsBadRequests covers what the handler refuses before it
// calls the service.
func TestTokenRejectsBadRequests(t *testing.T) {
	basic := func(id, secret string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(id, secret) }
	}
	tests := []struct {
		name        string
		contentType string // default form
		body        string
		edit        func(*http.Request)
		maxBody     int64
		wantStatus  int
		wantCode    string
	}{
		{
			name: "basic and form secret", body: "grant_type=client_credentials&client_id=c&client_secret=s",
			edit: basic("c", "s"), wantStatus: http.StatusBadRequest, wantCode: "invalid_request",
		},
		{
			name: "basic and form secret alone", body: "grant_type=client_credentials&client_secret=s",
			edit: basic("c", "s"), wantStatus: http.StatusBadRequest, wantCode: "invalid_request",
		},
		{
			name: "basic and another form client_id", body: "grant_type=client_credentials&client_id=other",
			edit: basic("c", "s"), wantStatus: http.StatusBadRequest, wantCode: "invalid_request",
		},
		{
			name: "duplicate parameter", body: "grant_type=client_credentials&scope=a&scope=b",
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request",
		},
		{
			name: "duplicate client_id", body: "grant_type=client_credentials&client_id=a&client_id=a",
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request",
		},
		{
			name: "json content type", contentType: "application/json", body: `{"grant_type":"client_credentials"}`,
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request",
		},
		{
			name: "no content type", contentType: "-", body: "grant_type=client_credentials",
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request",
		},
		{
			name: "multipart content type", contentType: "multipart/form-data; boundary=x", body: "--x--",
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request",
		},
		{
			name: "bad form encoding", body: "grant_type=%zz",
			wantStatus: http.StatusBadRequest, wantCode: "invalid_request",
		},
		{
			name: "body over the limit", body: "grant_type=client_credentials&pad=" + strings.Repeat("a", 200), maxBody: 100,
			wantStatus: http.StatusRequestEntityTooLarge, wantCode: "invalid_request",
		},
		{
			name: "malformed basic", body: "grant_type=client_credentials",
			edit:       func(r *http.Request) { r.Header.Set("Authorization", "Basic !!!notbase64") },
			wantStatus: http.StatusUnauthorized, wantCode: "invalid_client",
		},
		{
			name: "bad percent-encoding inside basic", body: "grant_type=client_credentials",
			edit: basic("c", "50%"), wantStatus: http.StatusUnauthorized, wantCode: "invalid_client",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &fakeService{}
			h := newHarness(t, svc, nil, Options{MaxBodyBytes: tt.maxBody})
			r := formPost(pathToken, tt.body)
			switch tt.contentType {
			case "":
			case "-":
				r.Header.Del("Content-Type")
			default:
				r.Header.Set("Content-Type", tt.contentType)
			}
			if tt.edit != nil {
				tt.edit(r)
			}
			rec := h.do(r)
			if rec.Code != tt.wantStatus {
				t.Errorf("status: got %v; want %v (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if got := decodeJSON[errorBody](t, rec); got.Error != tt.wantCode || got.Description == "" {
				t.Errorf("body: got %+v; want code %q with a description", got, tt.wantCode)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control: got %q; want %q", got, "no-store")
			}
			if svc.calls != 0 {
				t.Errorf("service calls: got %v; want %v", svc.calls, 0)
			}
			if lines := h.logLines(); len(lines) != 0 {
				t.Errorf("log: got %q; want nothing (a client error is not logged)", lines)
			}
		})
	}
}

func TestTokenBodyAtTheLimit(t *testing.T) {
	body := "grant_type=client_credentials&pad="
	body += strings.Repeat("a", 100-len(body))
	svc := &fakeService{}
	h := newHarness(t, svc, nil, Options{MaxBodyBytes: 100})
	if rec := h.do(formPost(pathToken, body)); rec.Code != http.StatusOK {
		t.Errorf("status: got %v; want %v (body %s)", rec.Code, http.StatusOK, rec.Body)
	}
}

func TestTokenContentTypeWithCharset(t *testing.T) {
	svc := &fakeService{}
	h := newHarness(t, svc, nil, Options{})
	r := formPost(pathToken, "grant_type=client_credentials")
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
	if rec := h.do(r); rec.Code != http.StatusOK {
		t.Errorf("status: got %v; want %v (body %s)", rec.Code, http.StatusOK, rec.Body)
	}
}

func TestIntrospect(t *testing.T) {
	svc := &fakeService{introspection: domain.Introspection{
		Active: true, Scope: "read", Scopes: []string{"read"}, ClientID: "client-1", TokenType: "Bearer",
		Exp: 200, Iat: 100, Nbf: 100, Sub: "client-1", Aud: domain.Audience{"client-1"}, Iss: testIssuer, Jti: "jti-1",
	}}
	h := newHarness(t, svc, nil, Options{})
	r := formPost(pathIntrospect, "token=eyJ.a.b&token_type_hint=access_token")
	r.SetBasicAuth("rs", "secret")
	rec := h.do(r)

	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %v; want %v (body %s)", rec.Code, http.StatusOK, rec.Body)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q; want %q", got, "no-store")
	}
	want := map[string]any{
		"active": true, "scope": "read", "scopes": []any{"read"}, "client_id": "client-1",
		"token_type": "Bearer", "exp": 200.0, "iat": 100.0, "nbf": 100.0, "sub": "client-1",
		"aud": "client-1", "iss": testIssuer, "jti": "jti-1",
	}
	if diff := cmp.Diff(want, decodeJSON[map[string]any](t, rec)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	if want := (domain.ClientCredentials{ID: "rs", Secret: "secret", Basic: true, Remote: "192.0.2.1"}); svc.caller != want {
		t.Errorf("caller: got %+v; want %+v", svc.caller, want)
	}
	if svc.token != "eyJ.a.b" {
		t.Errorf("token: got %q; want %q", svc.token, "eyJ.a.b")
	}
}

func TestIntrospectInactive(t *testing.T) {
	h := newHarness(t, &fakeService{}, nil, Options{})
	rec := h.do(formPost(pathIntrospect, "token=x&client_id=rs&client_secret=secret"))
	if got, want := rec.Body.String(), "{\"active\":false}\n"; got != want {
		t.Errorf("body: got %q; want %q", got, want)
	}
}

func TestRevoke(t *testing.T) {
	svc := &fakeService{}
	h := newHarness(t, svc, nil, Options{})
	rec := h.do(formPost(pathRevoke, "token=eyJ.a.b&token_type_hint=access_token&client_id=app"))

	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %v; want %v (body %s)", rec.Code, http.StatusOK, rec.Body)
	}
	if rec.Body.Len() != 0 {
		t.Errorf("body: got %q; want empty", rec.Body)
	}
	if want := (domain.ClientCredentials{ID: "app", Remote: "192.0.2.1"}); svc.caller != want {
		t.Errorf("caller: got %+v; want %+v", svc.caller, want)
	}
	if svc.token != "eyJ.a.b" || svc.hint != "access_token" {
		t.Errorf("token, hint: got %q, %q; want %q, %q", svc.token, svc.hint, "eyJ.a.b", "access_token")
	}
}

// TestOAuthEndpointsShareParsing checks introspection and revocation
// apply the token endpoint's request rules.
func TestOAuthEndpointsShareParsing(t *testing.T) {
	for _, path := range []string{pathIntrospect, pathRevoke} {
		for _, body := range []string{"token=a&token=b", "token=a&client_id=c&client_secret=s"} {
			t.Run(path+" "+body, func(t *testing.T) {
				svc := &fakeService{}
				h := newHarness(t, svc, nil, Options{})
				r := formPost(path, body)
				r.SetBasicAuth("c", "s")
				rec := h.do(r)
				if rec.Code != http.StatusBadRequest {
					t.Errorf("status: got %v; want %v", rec.Code, http.StatusBadRequest)
				}
				if got := decodeJSON[errorBody](t, rec).Error; got != "invalid_request" {
					t.Errorf("error: got %v; want %v", got, "invalid_request")
				}
				if svc.calls != 0 {
					t.Errorf("service calls: got %v; want %v", svc.calls, 0)
				}
			})
		}
	}
}
