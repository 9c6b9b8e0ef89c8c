package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// The headers a 200 from GET /auth/verify carries, for the proxy to pass
// to the resource server. Each is in canonical form.
const (
	headerUserID   = "X-Stamp-User-Id" // empty for a client credentials token
	headerClientID = "X-Stamp-Client-Id"
	headerScopes   = "X-Stamp-Scopes" // space-separated
	headerTokenID  = "X-Stamp-Token-Id"
)

// The RFC 6750 §3 challenges of GET /auth/verify.
const (
	challengeNoToken      = "Bearer" // §3.1: no error code when no token was sent
	challengeInvalidToken = `Bearer error="invalid_token"`
)

// verifyMethods are the methods GET /auth/verify also answers: nginx's
// auth_request and Envoy's ext_authz send the original request's method.
var verifyMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// verify answers GET /auth/verify, the forward-auth endpoint of nginx
// auth_request, Traefik ForwardAuth and Envoy ext_authz (HTTP): is the
// request's bearer token (the Authorization header, as the proxy passes
// it; the X-Forwarded-* headers are not read) valid, and does it carry the
// scopes the route needs?
//
// The query states what the route needs: scopes=a,b requires all of them
// and scope=a,b any one of them (Passport's scopes and scope middleware);
// each parameter given is a further requirement, so adding one can only
// narrow. Envoy appends the original path (/auth/verify/<path>), and the
// query then is the original request's, so it is not read there.
//
// The answers have no body:
//
//   - 200 with X-Stamp-User-Id (empty for client credentials),
//     X-Stamp-Client-Id, X-Stamp-Scopes (space-separated) and
//     X-Stamp-Token-Id;
//   - 401 with WWW-Authenticate: Bearer when no bearer token was sent, or
//     Bearer error="invalid_token" for one that does not validate;
//   - 403 with Bearer error="insufficient_scope", scope="..." naming the
//     unmet requirement.
//
// It logs nothing but failures to check (500; a cancelled or timed-out
// request is 503), and allocates little beyond what validation does: it is on the
// path of every proxied request.
func (s *server) verify(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	h := w.Header()
	raw, ok := bearerToken(r)
	if !ok || raw == "" {
		h.Set("WWW-Authenticate", challengeNoToken)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	t, _, err := s.validator.ValidateAccessToken(r.Context(), raw)
	if err != nil {
		s.verifyFailed(w, r, err)
		return
	}
	if len(ps) == 0 {
		if unmet, ok := scopesMet(r.URL.RawQuery, t.Scopes); !ok {
			h.Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+challengeScope(unmet)+`"`)
			w.WriteHeader(http.StatusForbidden)
			return
		}
	}
	// One allocation for every header value; each slice is capped so that
	// an Add elsewhere copies instead of overwriting its neighbour.
	vals := [...]string{"no-store", t.UserID, t.ClientID, strings.Join(t.Scopes, " "), t.ID}
	v := vals[:]
	h["Cache-Control"] = v[0:1:1]
	h[headerUserID] = v[1:2:2]
	h[headerClientID] = v[2:3:3]
	h[headerScopes] = v[3:4:4]
	h[headerTokenID] = v[4:5:5]
	w.WriteHeader(http.StatusOK)
}

// verifyFailed answers a token that did not validate (401) or a failure
// to check it: 503 for a cancelled or timed-out request (a timeout logged
// as a warning), else logged once and 500.
func (s *server) verifyFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, domain.ErrInvalidToken):
		w.Header().Set("WWW-Authenticate", challengeInvalidToken)
		w.WriteHeader(http.StatusUnauthorized)
	case errors.Is(err, context.Canceled):
		w.WriteHeader(http.StatusServiceUnavailable)
	case errors.Is(err, context.DeadlineExceeded):
		s.log.WarnContext(r.Context(), "httpapi: verify token timed out", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		s.log.ErrorContext(r.Context(), "httpapi: verify token", "error", err)
		w.WriteHeader(http.StatusInternalServerError)
	}
}

// scopesMet checks the requirements of a raw query string against granted
// (a token's scopes, where "*" covers all): every scopes parameter needs
// all the comma-separated scopes it lists, every scope parameter one of
// them; an empty list needs nothing. It returns the first unmet list and
// false; a value that does not unescape counts as unmet. Other parameters
// are ignored. It allocates only to unescape an escaped value.
func scopesMet(rawQuery string, granted []string) (string, bool) {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		key, list, _ := strings.Cut(pair, "=")
		all := key == "scopes"
		if !all && key != "scope" {
			continue
		}
		if strings.ContainsAny(list, "%+") {
			unescaped, err := url.QueryUnescape(list)
			if err != nil {
				return list, false
			}
			list = unescaped
		}
		if !listMet(list, granted, all) {
			return list, false
		}
	}
	return "", true
}

// listMet reports whether granted has all (or, when all is false, any) of
// the comma-separated scopes of list; an empty list is met.
func listMet(list string, granted []string, all bool) bool {
	empty := true
	for list != "" {
		var want string
		want, list, _ = strings.Cut(list, ",")
		if want = strings.TrimSpace(want); want == "" {
			continue
		}
		empty = false
		has := domain.ScopesAllow(granted, want)
		if all && !has {
			return false
		}
		if !all && has {
			return true
		}
	}
	return all || empty
}

// challengeScope turns an unmet comma-separated list into the
// space-delimited scope attribute of an RFC 6750 §3 challenge, dropping
// what a quoted string cannot hold (quotes, backslashes, controls).
func challengeScope(list string) string {
	var b strings.Builder
	for _, f := range strings.FieldsFunc(list, func(c rune) bool { return c == ',' || c == ' ' }) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		for _, c := range []byte(f) {
			if c > 0x20 && c < 0x7f && c != '"' && c != '\\' {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}
