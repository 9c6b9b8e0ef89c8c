package httpapi

import (
	"context"
	"errors"
	"net/http"
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
	// challengeWrongAudience: a valid token meant for another resource
	// (RFC 6750 §3.1: "invalid for other reasons"; RFC 9068 §4).
	challengeWrongAudience = `Bearer error="invalid_token", error_description="the token is not meant for this audience"`
)

// verifyMethods are the methods GET /auth/verify also answers: nginx's
// auth_request sends the original request's method.
var verifyMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

// verify answers GET /auth/verify, the forward-auth endpoint of nginx
// auth_request and Traefik ForwardAuth: is the request's bearer token (the
// Authorization header, as the proxy passes it; the X-Forwarded-* headers
// are not read) valid, meant for the route's audience, and does it carry
// the scopes the route needs?
//
// The query states what the route needs: scopes=a,b requires all of them,
// scope=a,b any one of them (Passport's scopes and scope middleware), and
// audience=URI that the token's aud claim holds URI (RFC 8707: a token
// requested for one API does not pass at another). Each parameter given is
// a further requirement, so adding one can only narrow. The check fails
// closed: only the exact path /auth/verify answers (exactVerify turns
// every look-alike into 404), and a query it does not fully understand (a
// parameter it does not know, in any spelling or case; one given twice;
// one without "="; a value that does not unescape; an empty audience) is
// 400 with a JSON error naming the problem and the known parameters, so a
// typo in a proxy's configuration never turns a check off.
//
// The other answers have no body:
//
//   - 200 with X-Stamp-User-Id (empty for client credentials),
//     X-Stamp-Client-Id, X-Stamp-Scopes (space-separated) and
//     X-Stamp-Token-Id;
//   - 401 with WWW-Authenticate: Bearer when no bearer token was sent (nor,
//     with Options.VerifyAcceptsCookie, a cookie token with its CSRF
//     header: see cookieToken), or
//     Bearer error="invalid_token" for one that does not validate or whose
//     aud lacks the required audience (as the guard answers it);
//   - 403 with Bearer error="insufficient_scope", scope="..." naming the
//     unmet requirement;
//   - 503 with Retry-After while the read models are not current (see
//     staleGate), rather than trusting their revocation state.
//
// It logs nothing but failures to check (500; a cancelled or timed-out
// request is 503), and allocates little beyond what validation does: it is on the
// path of every proxied request.
func (s *server) verify(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	h := w.Header()
	q, problem := parseVerifyQuery(r.URL.RawQuery)
	if problem != "" {
		h.Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid_request", Description: problem + "; " + verifyKnownParams})
		return
	}
	raw, ok := bearerToken(r)
	fromCookie := false
	if !ok && s.opts.VerifyAcceptsCookie && r.Header.Get("Authorization") == "" {
		raw, ok = cookieToken(r)
		fromCookie = ok
	}
	if !ok || raw == "" {
		h.Set("WWW-Authenticate", challengeNoToken)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if err := s.staleGate(); err != nil {
		setRetryAfter(w, err)
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	t, claims, err := s.validator.ValidateAccessToken(r.Context(), raw)
	if err == nil && fromCookie && (t.GrantType != domain.GrantSession || t.UserID == "") {
		err = errNotCookieToken
	}
	if err != nil {
		s.verifyFailed(w, r, err)
		return
	}
	if q.given&paramAudience != 0 && !claims.Audience.Contains(q.audience) {
		h.Set("WWW-Authenticate", challengeWrongAudience)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	for _, req := range [...]struct {
		list string
		all  bool
	}{{q.scopes, true}, {q.scope, false}} {
		if !listMet(req.list, t.Scopes, req.all) {
			h.Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+challengeScope(req.list)+`"`)
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
	case errors.Is(err, domain.ErrTemporarilyUnavailable):
		// Not caught up with the log in time: fail closed, retry later.
		setRetryAfter(w, err)
		w.WriteHeader(http.StatusServiceUnavailable)
	case errors.Is(err, context.DeadlineExceeded):
		s.log.WarnContext(r.Context(), "httpapi: verify token timed out", "error", err)
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		s.log.ErrorContext(r.Context(), "httpapi: verify token", "error", err)
		w.WriteHeader(http.StatusInternalServerError)
	}
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
