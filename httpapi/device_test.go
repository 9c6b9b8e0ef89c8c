package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

// deviceWeb is a fakeWeb knowing one pending user code, ABCD-EFGH.
func deviceWeb() *fakeWeb {
	return &fakeWeb{
		userCode: "ABCDEFGH",
		devicePrompt: domain.DevicePrompt{
			Code:   domain.DeviceCode{ID: "dc-1", ClientID: "tv-1", Scopes: []string{"photos.read", "retired"}},
			Client: domain.Client{ID: "tv-1", Name: "Living Room TV"},
			// "retired" left the catalogue: the service describes it as {}.
			Scopes: []domain.Scope{{ID: "photos.read", Description: "Read your photos"}, {}},
		},
	}
}

func TestDeviceCodeEndpoint(t *testing.T) {
	web := &fakeWeb{deviceAuth: domain.DeviceAuthorization{
		DeviceCode: "dev-secret", UserCode: "ABCD-EFGH", VerificationURI: testIssuer + "/oauth/device",
		VerificationURIComplete: testIssuer + "/oauth/device?user_code=ABCD-EFGH", ExpiresIn: 600, Interval: 5,
	}}
	h := webHarness(t, web, Options{})
	r := formPost(pathDeviceCode, "scope=photos.read")
	r.SetBasicAuth("tv-1", "s3cret")
	rec := h.do(r)

	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %v; want %v (body %s)", rec.Code, http.StatusOK, rec.Body)
	}
	want := map[string]any{
		"device_code": "dev-secret", "user_code": "ABCD-EFGH", "verification_uri": testIssuer + "/oauth/device",
		"verification_uri_complete": testIssuer + "/oauth/device?user_code=ABCD-EFGH", "expires_in": 600.0, "interval": 5.0,
	}
	if diff := cmp.Diff(want, decodeJSON[map[string]any](t, rec)); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
	for name, want := range map[string]string{"Cache-Control": "no-store", "Content-Type": "application/json"} {
		if got := rec.Header().Get(name); got != want {
			t.Errorf("%s: got %q; want %q", name, got, want)
		}
	}
	if want := (domain.ClientCredentials{ID: "tv-1", Secret: "s3cret", Basic: true, Remote: "192.0.2.1"}); web.deviceCred != want || web.deviceScope != "photos.read" {
		t.Errorf("call: got %+v, scope %q; want %+v, %q", web.deviceCred, web.deviceScope, want, "photos.read")
	}
}

func TestDeviceCodeEndpointErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		err    error
		status int
		code   string
	}{
		{name: "client authentication", body: "client_id=tv-1", err: domain.ErrInvalidClient, status: 401, code: "invalid_client"},
		{name: "grant not allowed", body: "client_id=tv-1", err: domain.ErrUnauthorizedClient, status: 400, code: "unauthorized_client"},
		{name: "duplicate parameter", body: "client_id=tv-1&scope=a&scope=b", status: 400, code: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := webHarness(t, &fakeWeb{deviceErr: tt.err}, Options{})
			rec := h.do(formPost(pathDeviceCode, tt.body))
			if rec.Code != tt.status {
				t.Errorf("status: got %v; want %v", rec.Code, tt.status)
			}
			if got := decodeJSON[errorBody](t, rec).Error; got != tt.code {
				t.Errorf("error: got %v; want %v", got, tt.code)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control: got %q; want no-store", got)
			}
		})
	}
}

// TestDevicePageLogsInAndComesBack: verification_uri_complete takes a
// logged-out user through the login page to the prefilled form.
func TestDevicePageLogsInAndComesBack(t *testing.T) {
	h := webHarness(t, deviceWeb(), Options{})
	b := newBrowser(t, h.handler)
	p := b.get(pathDevice + "?user_code=ABCD-EFGH")
	wantStatus(t, p, http.StatusFound)
	loc, _ := url.Parse(p.location())
	if loc.Path != pathLogin || loc.Query().Get("next") != pathDevice+"?user_code=ABCD-EFGH" {
		t.Fatalf("Location: got %q; want the login page coming back", p.location())
	}
	p = b.follow(b.login(b.follow(p)))
	wantStatus(t, p, http.StatusOK)
	if got := inputValue(t, p.body, "user_code"); got != "ABCD-EFGH" {
		t.Errorf("user_code field: got %q; want it prefilled", got)
	}
	if f := mustForm(t, p, pathDevice, ""); f.fields.Get("_token") == "" {
		t.Errorf("code form: want a _token")
	}
}

// deviceConfirmation logs in, types code and returns the answer.
func deviceConfirmation(t *testing.T, h harness, code string) (*browser, page) {
	t.Helper()
	b := loggedIn(t, h)
	p := b.get(pathDevice)
	wantStatus(t, p, http.StatusOK)
	return b, b.submit(mustForm(t, p, pathDevice, ""), url.Values{"user_code": {code}})
}

func TestDeviceDecide(t *testing.T) {
	for _, approve := range []bool{true, false} {
		name, action, result := "approve", pathDeviceApprove, "Device connected"
		if !approve {
			name, action, result = "deny", pathDeviceDeny, "Request denied"
		}
		t.Run(name, func(t *testing.T) {
			h := webHarness(t, deviceWeb(), Options{})
			b, p := deviceConfirmation(t, h, "abcd efgh")
			wantStatus(t, p, http.StatusOK)
			for _, want := range []string{"Living Room TV", "<li>Read your photos</li>", "<li>retired</li>", "ABCD-EFGH"} {
				if !strings.Contains(p.body, want) {
					t.Errorf("confirmation: want %q in:\n%s", want, p.body)
				}
			}
			f := mustForm(t, p, action, "")
			if f.fields.Get("user_code") != "ABCD-EFGH" || f.fields.Get("_token") == "" || f.fields.Get("auth_token") == "" {
				t.Errorf("form fields: got %v; want the code, _token and auth_token", f.fields)
			}

			p = b.submit(f, nil)
			wantStatus(t, p, http.StatusOK)
			for _, want := range []string{result, "You can return to your device."} {
				if !strings.Contains(p.body, want) {
					t.Errorf("result: want %q in:\n%s", want, p.body)
				}
			}
			want := []deviceDecision{{UserID: testUser.ID, UserCode: "ABCD-EFGH", Approve: approve}}
			if diff := cmp.Diff(want, h.web.deviceDecision); diff != "" {
				t.Errorf("decisions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeviceCodeRetry(t *testing.T) {
	tests := []struct {
		name, code, message string
		lookupErr           error
		wantLookups         int
	}{
		{name: "unknown code", code: "ZZZZ-ZZZZ", message: msgBadCode, wantLookups: 1},
		{name: "empty code", code: " - ", message: msgEnterCode},
		{name: "expired", code: "ABCD-EFGH", lookupErr: domain.ErrInvalidGrant.WithDescription("expired"), message: msgBadCode, wantLookups: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			web := deviceWeb()
			web.lookupErr = tt.lookupErr
			h := webHarness(t, web, Options{})
			_, p := deviceConfirmation(t, h, tt.code)
			wantStatus(t, p, http.StatusUnprocessableEntity)
			if !strings.Contains(p.body, tt.message) {
				t.Errorf("page: want %q in:\n%s", tt.message, p.body)
			}
			mustForm(t, p, pathDevice, "")
			if len(web.lookups) != tt.wantLookups {
				t.Errorf("lookups: got %v; want %v", len(web.lookups), tt.wantLookups)
			}
		})
	}
}

func TestDeviceLookupUnexpectedError(t *testing.T) {
	web := deviceWeb()
	web.lookupErr = errors.New("pebble: closed")
	h := webHarness(t, web, Options{})
	_, p := deviceConfirmation(t, h, "ABCD-EFGH")
	wantStatus(t, p, http.StatusInternalServerError)
	if got := len(h.logLines()); got != 1 {
		t.Errorf("log records: got %v; want 1", got)
	}
}

// TestDeviceDecisionUsedCode: a code decided meanwhile shows the form again.
func TestDeviceDecisionUsedCode(t *testing.T) {
	web := deviceWeb()
	h := webHarness(t, web, Options{})
	b, p := deviceConfirmation(t, h, "ABCD-EFGH")
	web.decideDevErr = domain.ErrInvalidGrant.WithDescription("the code was already used")
	p = b.submit(mustForm(t, p, pathDeviceApprove, ""), nil)
	wantStatus(t, p, http.StatusUnprocessableEntity)
	if !strings.Contains(p.body, msgBadCode) {
		t.Errorf("page: want %q in:\n%s", msgBadCode, p.body)
	}
}

// TestDeviceForgery: the device pages need the session, its CSRF token
// and, to decide, the confirmation screen's token for that code.
func TestDeviceForgery(t *testing.T) {
	tests := []struct {
		name   string
		action string
		edit   func(url.Values)
		fresh  bool
	}{
		{name: "code form without _token", action: pathDevice, edit: func(v url.Values) { v.Del("_token") }},
		{name: "code form logged out", action: pathDevice, fresh: true},
		{name: "approve without _token", action: pathDeviceApprove, edit: func(v url.Values) { v.Del("_token") }},
		{name: "approve without auth_token", action: pathDeviceApprove, edit: func(v url.Values) { v.Del("auth_token") }},
		{name: "approve another code", action: pathDeviceApprove, edit: func(v url.Values) { v.Set("user_code", "WXYZ-WXYZ") }},
		{name: "approve logged out", action: pathDeviceApprove, fresh: true},
		{name: "deny with wrong auth_token", action: pathDeviceDeny, edit: func(v url.Values) { v.Set("auth_token", "forged") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			web := deviceWeb()
			h := webHarness(t, web, Options{})
			b, p := deviceConfirmation(t, h, "ABCD-EFGH")
			f := mustForm(t, p, pathDeviceApprove, "")
			if tt.action == pathDevice {
				f = htmlForm{action: pathDevice, fields: url.Values{"_token": f.fields["_token"], "user_code": {"ABCD-EFGH"}}}
			}
			f.action = tt.action
			if tt.edit != nil {
				tt.edit(f.fields)
			}
			if tt.fresh {
				b = newBrowser(t, h.handler)
			}
			lookups := len(web.lookups)
			wantStatus(t, b.submit(f, nil), http.StatusForbidden)
			if len(web.deviceDecision) != 0 || len(web.lookups) != lookups {
				t.Errorf("service calls: decisions %v, lookups %v; want none", web.deviceDecision, web.lookups[lookups:])
			}
		})
	}
}
