package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/stamp-oauth/stamp/domain"
)

const formContentType = "application/x-www-form-urlencoded"

// readForm reads the parameters of an OAuth POST from its body, never from
// the query string. The body must be application/x-www-form-urlencoded
// (RFC 6749 §3.2) and at most limit bytes long. It returns:
//
//   - domain.ErrInvalidRequest for another content type, a body that is
//     not valid form encoding, or a parameter given more than once
//     (RFC 6749 §3.2: "MUST NOT be included more than once");
//   - an error wrapping *http.MaxBytesError for a body over limit.
//
// A parameter sent without a value is left out, as if omitted (§3.2).
func readForm(w http.ResponseWriter, r *http.Request, limit int64) (map[string]string, error) {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != formContentType {
		return nil, domain.ErrInvalidRequest.WithDescription("the request body must be %s", formContentType)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, err
		}
		return nil, domain.ErrInvalidRequest.WithDescription("the request body could not be read")
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, domain.ErrInvalidRequest.WithDescription("the request body is not valid form encoding")
	}
	return singleValues(values)
}

// readQuery reads the parameters of a GET from its query string, with
// readForm's rules: domain.ErrInvalidRequest for bad encoding or a
// parameter given more than once (RFC 6749 §3.1); empty values left out.
func readQuery(r *http.Request) (map[string]string, error) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, domain.ErrInvalidRequest.WithDescription("the query string is not valid URL encoding")
	}
	return singleValues(values)
}

// paramResource is RFC 8707's resource parameter, the one OAuth parameter
// that may be given more than once (§2).
const paramResource = "resource"

// singleValues returns the one value of each parameter, leaving out empty
// ones, or domain.ErrInvalidRequest naming a parameter given twice. The
// values of a repeated resource parameter are joined with spaces, which no
// absolute URI holds (domain.ParseResources splits them).
func singleValues(values url.Values) (map[string]string, error) {
	out := make(map[string]string, len(values))
	for name, vs := range values {
		if name == paramResource {
			if joined := strings.TrimSpace(strings.Join(vs, " ")); joined != "" {
				out[name] = joined
			}
			continue
		}
		if len(vs) > 1 {
			return nil, domain.ErrInvalidRequest.WithDescription("the parameter %q is given more than once", name)
		}
		if vs[0] != "" {
			out[name] = vs[0]
		}
	}
	return out, nil
}

// clientCredentials returns the client authentication of a request
// (RFC 6749 §2.3.1) and removes client_id and client_secret from form.
//
// HTTP Basic is used when the Authorization header has the Basic scheme;
// its id and secret are form-urlencoded inside (§2.3.1) and are decoded.
// Otherwise the form fields client_id and client_secret are used; a
// client_id alone identifies a public client. An Authorization header of
// another scheme is not client authentication and is ignored.
//
// Using both methods is domain.ErrInvalidRequest (§2.3: "MUST NOT use more
// than one authentication method"). A form client_id beside Basic is
// accepted when it names the same client, since §4.1.3 has clients send
// it and several libraries always do; a form client_secret beside Basic,
// or another client_id, is not. Malformed Basic credentials are
// domain.ErrInvalidClient (the client tried to authenticate and failed).
func clientCredentials(r *http.Request, form map[string]string) (domain.ClientCredentials, error) {
	formID, formSecret := form["client_id"], form["client_secret"]
	delete(form, "client_id")
	delete(form, "client_secret")

	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return domain.ClientCredentials{ID: formID, Secret: formSecret}, nil
	}
	malformed := domain.ErrInvalidClient.WithDescription("the HTTP Basic credentials are malformed")
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		return domain.ClientCredentials{}, malformed
	}
	id, errID := url.QueryUnescape(rawID)
	secret, errSecret := url.QueryUnescape(rawSecret)
	if errID != nil || errSecret != nil {
		return domain.ClientCredentials{}, malformed
	}
	if formSecret != "" || (formID != "" && formID != id) {
		return domain.ClientCredentials{}, domain.ErrInvalidRequest.WithDescription(
			"the client authenticated with both HTTP Basic and form fields; use one method")
	}
	return domain.ClientCredentials{ID: id, Secret: secret, Basic: true}, nil
}

// clientForm reads an OAuth POST (readForm) and its client authentication
// (clientCredentials), with the client's address (clientAddr) as Remote
// for the limits on failed authentications. The returned form no longer
// holds client_id and client_secret.
func (s *server) clientForm(w http.ResponseWriter, r *http.Request) (map[string]string, domain.ClientCredentials, error) {
	form, err := readForm(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return nil, domain.ClientCredentials{}, err
	}
	cred, err := clientCredentials(r, form)
	if err != nil {
		return nil, domain.ClientCredentials{}, err
	}
	cred.Remote = s.clientAddr(r)
	return form, cred, nil
}
