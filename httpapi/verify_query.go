package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/julienschmidt/httprouter"
)

// The query parameters of GET /auth/verify, as bits of verifyQuery.given.
const (
	paramScopes = 1 << iota
	paramScope
	paramAudience
)

// verifyKnownParams ends the description of every 400 of /auth/verify.
const verifyKnownParams = "the known parameters are scopes (all of a comma-separated list), scope (any of one) and audience (a URI the token's aud must hold), each at most once"

// verifyQuery is what the query of GET /auth/verify requires, unescaped.
type verifyQuery struct {
	scopes, scope, audience string
	given                   int // the param* bits of the parameters present
}

// parseVerifyQuery reads the raw query of GET /auth/verify strictly. It
// returns the requirements, or a description of why the query is refused
// (non-empty means 400): a parameter other than scopes, scope and audience
// (names are case-sensitive and not unescaped, so Scopes, scopess and
// scop%65s are all unknown), one given twice, one without "=", a value
// that does not unescape, or an empty audience. Empty pairs ("a=b&&") are
// skipped. It allocates only to unescape an escaped value or to describe
// a refusal.
func parseVerifyQuery(rawQuery string) (verifyQuery, string) {
	var q verifyQuery
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if pair == "" {
			continue
		}
		key, value, hasValue := strings.Cut(pair, "=")
		var bit int
		var dst *string
		switch key {
		case "scopes":
			bit, dst = paramScopes, &q.scopes
		case "scope":
			bit, dst = paramScope, &q.scope
		case "audience":
			bit, dst = paramAudience, &q.audience
		default:
			return verifyQuery{}, fmt.Sprintf("unknown query parameter %q", clip(key))
		}
		switch {
		case !hasValue:
			return verifyQuery{}, fmt.Sprintf("the query parameter %s has no value (%s=...)", key, key)
		case q.given&bit != 0:
			return verifyQuery{}, fmt.Sprintf("the query parameter %s is given twice", key)
		}
		q.given |= bit
		if strings.ContainsAny(value, "%+") {
			unescaped, err := url.QueryUnescape(value)
			if err != nil {
				return verifyQuery{}, fmt.Sprintf("the value of %s is not URL-encoded correctly", key)
			}
			value = unescaped
		}
		*dst = value
	}
	if q.given&paramAudience != 0 && strings.TrimSpace(q.audience) == "" {
		return verifyQuery{}, "the audience parameter is empty"
	}
	return q, ""
}

// clip shortens an echoed parameter name, so a refusal stays small.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// exactVerify wraps the router so that the forward-auth check cannot be
// reached by a path that merely resembles /auth/verify: one the router
// would clean, case-fold or trailing-slash redirect to it (//auth/verify,
// /auth/./verify, /AUTH/VERIFY, /auth/verify/), one under it
// (/auth/verify/x, /auth/verify/x/..) and one spelled with needless
// escapes (/auth/%76erify) are answered 404 by notFound. A proxy
// following a redirect, or a check answered by another route, could
// otherwise drop the requirements of the query. Every other path goes to
// next unchanged; a clean path costs no allocation.
func exactVerify(next http.Handler, notFound http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if verifyLookalike(r.URL) {
			notFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// verifyLookalike reports whether u's path is not exactly /auth/verify but
// leads there, or lies under it, once cleaned and case-folded.
func verifyLookalike(u *url.URL) bool {
	if u.Path == pathVerify {
		return u.RawPath != "" // set only when the escaping is not the plain one
	}
	if len(u.Path) < len(pathVerify) {
		return false
	}
	c := httprouter.CleanPath(u.Path)
	return strings.EqualFold(c, pathVerify) ||
		len(c) > len(pathVerify) && strings.EqualFold(c[:len(pathVerify)+1], pathVerify+"/")
}
