// Package guard is stamp's middleware for Go resource servers: it
// validates stamp's JWT access tokens locally, with the keys of the
// authorization server's JWKS, and learns which tokens stopped validating
// early (revoked tokens, deleted clients, deleted users) from a Feed of the
// event stream instead of asking the server on every request.
//
// Its middleware follow Laravel Passport's:
//
//	Passport              guard
//	auth:api              g.Auth(h)                  any valid token
//	scopes:a,b            g.Scopes("a", "b")(h)      a token with all of them
//	scope:a,b             g.Scope("a", "b")(h)       a token with any of them
//	client (:a,b)         g.Client("a", "b")(h)      a client-credentials token (with all of them)
//	$request->user()->tokenCan('a')   guard.TokenCan(r.Context(), "a")
//
// A token granted "*" has every scope. A request without a valid token is
// answered 401 with {"message":"Unauthenticated."} and a WWW-Authenticate
// challenge (RFC 6750 §3), one without the scopes 403 with {"message":"Invalid
// scope(s) provided."} and error="insufficient_scope". While the Feed is
// not current (starting, disconnected, stalled) the guard fails closed: every
// request is answered 503 {"message":"Authorization unavailable."} with
// Retry-After: 1, since it could not tell a revoked token from a valid one.
//
// Wiring it to stamp's event stream (package eventstore implements Feed):
//
//	feed, err := eventstore.OpenRevocationFeed(ctx, eventstore.Options{URL: natsURL, NkeySeedFile: seedFile}, 366*24*time.Hour)
//	...
//	defer feed.Close()
//	g, err := guard.New(ctx, guard.Options{Issuer: issuer, JWKSURL: jwksURL, Feed: feed})
//	...
//	defer g.Close()
//	mux.Handle("GET /orders", g.Scopes("orders:read")(orders))
//
// The package imports the domain package, net/http and go-jose only: it
// knows nothing of NATS. A Guard is safe for concurrent use; every error it
// returns starts with "guard:".
package guard
