package guard

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// Auth is Passport's auth:api: next runs for a request with a valid
// token, which TokenFrom returns; any other is answered 401 (503 while the
// guard is not current).
func (g *Guard) Auth(next http.Handler) http.Handler {
	return g.require(next, rule{})
}

// Scopes is Passport's scopes middleware: Auth, and the token must grant
// every one of scopes (403 otherwise).
func (g *Guard) Scopes(scopes ...string) func(http.Handler) http.Handler {
	r := rule{all: scopes}
	return func(next http.Handler) http.Handler { return g.require(next, r) }
}

// Scope is Passport's scope middleware: Auth, and the token must grant at
// least one of scopes (403 otherwise). It panics without scopes, which
// would refuse every request.
func (g *Guard) Scope(scopes ...string) func(http.Handler) http.Handler {
	if len(scopes) == 0 {
		panic("guard: Scope needs at least one scope")
	}
	r := rule{any: scopes}
	return func(next http.Handler) http.Handler { return g.require(next, r) }
}

// Client is Passport's client middleware (CheckClientCredentials, in
// Passport 13 EnsureClientIsResourceOwner): the token must be a
// client-credentials token, acting for its own client and no user (401
// otherwise), and grant every one of scopes (403 otherwise).
func (g *Guard) Client(scopes ...string) func(http.Handler) http.Handler {
	r := rule{all: scopes, client: true}
	return func(next http.Handler) http.Handler { return g.require(next, r) }
}

// Audience is a middleware for one route of a guard serving several
// APIs: Auth, and the token's aud must hold aud (401 invalid_token
// otherwise, as Options.Audience answers for every route). It panics
// with an empty aud, which no token would hold.
func (g *Guard) Audience(aud string) func(http.Handler) http.Handler {
	if aud == "" {
		panic("guard: Audience needs an audience")
	}
	r := rule{audience: aud}
	return func(next http.Handler) http.Handler { return g.require(next, r) }
}

// rule is what a middleware demands of a valid token.
type rule struct {
	all, any []string
	client   bool
	audience string
}

func (r rule) challenge() string {
	scopes := r.all
	if len(r.any) > 0 {
		scopes = r.any
	}
	return `Bearer error="insufficient_scope", scope="` + strings.Join(scopes, " ") + `"`
}

func (g *Guard) require(next http.Handler, r rule) http.Handler {
	insufficient := r.challenge()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := req.Context()
		a, ok := ctx.Value(ctxKey{}).(*authed)
		if !ok || a.g != g || !g.current.Load() {
			tok, fail := g.authenticate(req)
			if fail != nil {
				fail(w)
				return
			}
			a = &authed{g: g, tok: tok}
			req = req.WithContext(context.WithValue(ctx, ctxKey{}, a))
		}
		switch {
		case r.client && !a.tok.IsClient(), r.audience != "" && !a.tok.For(r.audience):
			unauthenticated(w, invalidToken)
		case len(r.all) > 0 && !a.tok.canAll(r.all), len(r.any) > 0 && !a.tok.canAny(r.any):
			writeJSON(w, http.StatusForbidden, insufficient, msgInvalidScope)
		default:
			next.ServeHTTP(w, req)
		}
	})
}

// authenticate checks the request's bearer token, or returns how to refuse
// it.
func (g *Guard) authenticate(r *http.Request) (Token, func(http.ResponseWriter)) {
	if !g.current.Load() {
		g.count(verdictUnavailable)
		return Token{}, unavailable
	}
	raw, ok := bearer(r)
	if !ok && r.Header.Get("Authorization") == "" && g.opts.AcceptCookie != nil {
		raw, ok = g.opts.AcceptCookie.token(r)
	}
	if !ok {
		g.count(verdictNoToken)
		return Token{}, noToken
	}
	now := g.opts.Now()
	c, err := g.verify(r.Context(), raw, now)
	if err != nil {
		g.opts.Logger.Debug("guard: token refused", "err", err)
		g.count(verdictInvalid)
		return Token{}, invalid
	}
	userID := c.Subject
	if userID == c.ClientID {
		userID = ""
	}
	if g.opts.Audience != "" && !c.Audience.Contains(g.opts.Audience) {
		g.opts.Logger.Debug("guard: token refused: meant for another audience", "jti", c.ID, "aud", []string(c.Audience))
		g.count(verdictWrongAudience)
		return Token{}, invalid
	}
	if g.revs.rejects(c.ID, c.ClientID, userID) {
		g.opts.Logger.Debug("guard: token refused: revoked, or its client or user deleted", "jti", c.ID)
		g.count(verdictRevoked)
		return Token{}, invalid
	}
	scopes := c.Scopes
	if len(scopes) == 0 && c.Scope != "" {
		scopes = strings.Fields(c.Scope)
	}
	g.count(verdictValid)
	return Token{ID: c.ID, ClientID: c.ClientID, UserID: userID, Scopes: scopes, Audience: c.Audience, ExpiresAt: time.Unix(c.Expiry, 0)}, nil
}

// verify parses and checks raw with the cached keys and, when it names a
// kid they lack, once more after a refetch.
func (g *Guard) verify(ctx context.Context, raw string, now time.Time) (domain.Claims, error) {
	keys := g.keys.current()
	l := lookup{set: *keys}
	c, err := domain.ParseAccessToken(raw, g.opts.Issuer, l.key, now, g.opts.Leeway)
	if err == nil || !l.missed || !errors.Is(err, domain.ErrInvalidToken) {
		return c, err
	}
	fresh := g.keys.refetch(ctx)
	if fresh == keys {
		return c, err
	}
	l = lookup{set: *fresh}
	return domain.ParseAccessToken(raw, g.opts.Issuer, l.key, now, g.opts.Leeway)
}

// bearer returns the token of an "Authorization: Bearer" header (RFC 6750
// §2.1; the scheme is case-insensitive).
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return "", false
	}
	tok := strings.TrimSpace(h[7:])
	return tok, tok != ""
}

// Bodies of the refusals, as Laravel renders them.
const (
	msgUnauthenticated = `{"message":"Unauthenticated."}`
	msgInvalidScope    = `{"message":"Invalid scope(s) provided."}`
	msgUnavailable     = `{"message":"Authorization unavailable."}`
)

// Challenges (RFC 6750 §3): none of the error codes for a request without
// a token (§3.1), invalid_token for a bad one.
const (
	challengeNoToken = `Bearer`
	invalidToken     = `Bearer error="invalid_token"`
)

func noToken(w http.ResponseWriter) { unauthenticated(w, challengeNoToken) }
func invalid(w http.ResponseWriter) { unauthenticated(w, invalidToken) }

func unauthenticated(w http.ResponseWriter, challenge string) {
	writeJSON(w, http.StatusUnauthorized, challenge, msgUnauthenticated)
}

func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	writeJSON(w, http.StatusServiceUnavailable, "", msgUnavailable)
}

func writeJSON(w http.ResponseWriter, status int, challenge, body string) {
	h := w.Header()
	if challenge != "" {
		h.Set("WWW-Authenticate", challenge)
	}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
