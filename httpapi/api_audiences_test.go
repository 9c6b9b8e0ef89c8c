package httpapi

import (
	"net/http"
	"slices"
	"testing"
)

// TestClientAudiencesBodies: the JSON API takes a client's resource
// audiences (RFC 8707) as one URI or a list, in JSON or a form; on an
// update an absent field keeps the client's, an empty list clears them.
func TestClientAudiencesBodies(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		want                    []string
	}{
		{name: "json list", contentType: "application/json", body: `{"name":"A","redirect":"https://a/1","audiences":["https://api.example"," https://b.example "]}`, want: []string{"https://api.example", "https://b.example"}},
		{name: "json one", contentType: "application/json", body: `{"name":"A","redirect":"https://a/1","audiences":"https://api.example"}`, want: []string{"https://api.example"}},
		{name: "json absent", contentType: "application/json", body: `{"name":"A","redirect":"https://a/1"}`},
		{name: "form audiences[]", contentType: formContentType, body: "name=A&redirect=https%3A%2F%2Fa%2F1&audiences[]=https%3A%2F%2Fapi.example&audiences[]=urn%3Ax%3Ay", want: []string{"https://api.example", "urn:x:y"}},
		{name: "form audiences", contentType: formContentType, body: "name=A&redirect=https%3A%2F%2Fa%2F1&audiences=https%3A%2F%2Fapi.example", want: []string{"https://api.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := apiHarness(t)
			r := apiReq(http.MethodPost, pathClients, bearerUser, tt.body)
			r.Header.Set("Content-Type", tt.contentType)
			wantCode(t, h.do(r), http.StatusCreated)
			if got := h.api.registered[0].Audiences; !slices.Equal(got, tt.want) || (tt.want == nil) != (got == nil) {
				t.Errorf("RegisterClient audiences: got %#v; want %#v", got, tt.want)
			}
		})
	}

	h := apiHarness(t)
	wantCode(t, h.do(apiReq(http.MethodPost, pathClients, bearerUser, `{"name":"A","redirect":"https://a/1"}`)), http.StatusCreated)
	h.api.clients[0].Audiences = []string{"https://api.example"}
	rec := h.do(apiReq(http.MethodGet, pathClients, bearerUser, ""))
	list := decodeJSON[[]clientJSON](t, rec)
	if len(list) != 1 || !slices.Equal(list[0].Audiences, []string{"https://api.example"}) {
		t.Errorf("list: got %+v; want the client's audiences", list)
	}
	wantCode(t, h.do(apiReq(http.MethodPut, "/oauth/clients/client-1", bearerUser, `{"name":"B","redirect":"https://a/1"}`)), http.StatusOK)
	if got := h.api.updated[0].Audiences; got != nil {
		t.Errorf("update without audiences: got %#v; want nil (keep)", got)
	}
	wantCode(t, h.do(apiReq(http.MethodPut, "/oauth/clients/client-1", bearerUser, `{"name":"B","redirect":"https://a/1","audiences":[]}`)), http.StatusOK)
	if got := h.api.updated[1].Audiences; got == nil || len(got) != 0 {
		t.Errorf("update with audiences []: got %#v; want an empty list (clear)", got)
	}
}
