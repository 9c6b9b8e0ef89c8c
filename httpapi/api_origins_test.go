package httpapi

import (
	"net/http"
	"slices"
	"testing"
)

// TestClientWebOriginsBodies: the JSON API takes a client's web origins
// (CORS) as one origin or a list, in JSON or a form, and shows them; on an
// update an absent field keeps the client's, an empty list clears them.
func TestClientWebOriginsBodies(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		want                    []string
	}{
		{name: "json list", contentType: "application/json", body: `{"name":"A","redirect":"https://a/1","web_origins":["https://app.example"," http://localhost:5173 "]}`, want: []string{"https://app.example", "http://localhost:5173"}},
		{name: "json one", contentType: "application/json", body: `{"name":"A","redirect":"https://a/1","web_origins":"https://app.example"}`, want: []string{"https://app.example"}},
		{name: "json absent", contentType: "application/json", body: `{"name":"A","redirect":"https://a/1"}`},
		{name: "form web_origins[]", contentType: formContentType, body: "name=A&redirect=https%3A%2F%2Fa%2F1&web_origins[]=https%3A%2F%2Fapp.example&web_origins[]=https%3A%2F%2Fb.example", want: []string{"https://app.example", "https://b.example"}},
		{name: "form web_origins", contentType: formContentType, body: "name=A&redirect=https%3A%2F%2Fa%2F1&web_origins=https%3A%2F%2Fapp.example", want: []string{"https://app.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := apiHarness(t)
			r := apiReq(http.MethodPost, pathClients, bearerUser, tt.body)
			r.Header.Set("Content-Type", tt.contentType)
			wantCode(t, h.do(r), http.StatusCreated)
			if got := h.api.registered[0].WebOrigins; !slices.Equal(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Errorf("RegisterClient web origins: got %#v; want %#v", got, tt.want)
			}
		})
	}

	h := apiHarness(t)
	wantCode(t, h.do(apiReq(http.MethodPost, pathClients, bearerUser, `{"name":"A","redirect":"https://a/1"}`)), http.StatusCreated)
	h.api.clients[0].WebOrigins = []string{"https://app.example"}
	list := decodeJSON[[]clientJSON](t, h.do(apiReq(http.MethodGet, pathClients, bearerUser, "")))
	if len(list) != 1 || !slices.Equal(list[0].WebOrigins, []string{"https://app.example"}) {
		t.Errorf("list: got %+v; want the client's web origins", list)
	}
	wantCode(t, h.do(apiReq(http.MethodPut, "/oauth/clients/client-1", bearerUser, `{"name":"B","redirect":"https://a/1"}`)), http.StatusOK)
	if got := h.api.updated[0].WebOrigins; got != nil {
		t.Errorf("update without web_origins: got %#v; want nil (keep)", got)
	}
	wantCode(t, h.do(apiReq(http.MethodPut, "/oauth/clients/client-1", bearerUser, `{"name":"B","redirect":"https://a/1","web_origins":[]}`)), http.StatusOK)
	if got := h.api.updated[1].WebOrigins; got == nil || len(got) != 0 {
		t.Errorf("update with web_origins []: got %#v; want an empty list (clear)", got)
	}
}
