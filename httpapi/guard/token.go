package guard

import (
	"context"
	"slices"
	"time"
)

// Token is the access token a request was authenticated with.
type Token struct {
	// ID is the token's jti.
	ID string
	// ClientID is the client the token was issued to.
	ClientID string
	// UserID is the user the token acts for; empty for a
	// client-credentials token, which acts for its client.
	UserID string
	// Scopes are the scopes granted; "*" grants every scope.
	Scopes []string
	// ExpiresAt is the token's expiry.
	ExpiresAt time.Time
	// Audience is the token's aud: the resources it was requested for
	// (RFC 8707), or its client id when none was.
	Audience []string
}

// For reports whether the token is meant for aud: its aud holds it.
func (t Token) For(aud string) bool { return slices.Contains(t.Audience, aud) }

// Can reports whether the token grants scope: it holds scope or "*"
// (Passport's tokenCan).
func (t Token) Can(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope || s == "*" {
			return true
		}
	}
	return false
}

// IsClient reports whether the token is a client-credentials token: it acts
// for its client and no user.
func (t Token) IsClient() bool { return t.UserID == "" }

// ctxKey keys the authenticated token in a request's context.
type ctxKey struct{}

// authed is the context value: the guard that checked the token, so that
// nested middleware of the same guard do not check it again.
type authed struct {
	g   *Guard
	tok Token
}

// TokenFrom returns the token the guard's middleware authenticated the
// request with, or false outside of them.
func TokenFrom(ctx context.Context) (Token, bool) {
	a, ok := ctx.Value(ctxKey{}).(*authed)
	if !ok {
		return Token{}, false
	}
	return a.tok, true
}

// TokenCan reports whether the request's token grants scope ("*" grants
// every scope); false outside of the guard's middleware.
func TokenCan(ctx context.Context, scope string) bool {
	t, ok := TokenFrom(ctx)
	return ok && t.Can(scope)
}

// canAll reports whether t grants every one of scopes.
func (t Token) canAll(scopes []string) bool {
	if slices.Contains(t.Scopes, "*") {
		return true
	}
	for _, s := range scopes {
		if !slices.Contains(t.Scopes, s) {
			return false
		}
	}
	return true
}

// canAny reports whether t grants one of scopes.
func (t Token) canAny(scopes []string) bool {
	for _, s := range scopes {
		if t.Can(s) {
			return true
		}
	}
	return false
}
