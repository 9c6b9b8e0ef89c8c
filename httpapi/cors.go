package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/stamp-oauth/stamp/domain"
)

// CORS (the Fetch standard's cross-origin resource sharing) is answered
// on four routes only; every other route sends no Access-Control-* header,
// so a browser refuses a script of another origin its answer:
//
//   - POST /oauth/token and POST /oauth/revoke, for the web origins
//     clients registered (domain.Client.WebOrigins). A preflight cannot
//     name the client (the body is not sent), so it is granted to an
//     origin that any live client registered (Origins.WebOriginRegistered);
//     the actual answer carries Access-Control-Allow-Origin only when the
//     client the request identifies (HTTP Basic or client_id) registered
//     the request's Origin, whether the grant succeeds or not, so a
//     single-page app reads its errors too. No cookies are involved, so
//     Access-Control-Allow-Credentials is never sent.
//   - GET /.well-known/jwks.json and GET /.well-known/oauth-authorization-server,
//     public documents without credentials: any origin (*), so a browser
//     library can discover the endpoints and verify tokens.
//
// Introspection, the JSON API, the pages and the forward-auth endpoint are
// not for other origins and answer none.

// Origins tells which browser origins may call the token and revocation
// endpoints. The clients read model satisfies it.
type Origins interface {
	// WebOriginRegistered reports whether a live client registered origin.
	WebOriginRegistered(ctx context.Context, origin string) (bool, error)
	// Client returns the client with id id, deleted or not; an unknown id
	// is an error wrapping domain.ErrNotFound.
	Client(ctx context.Context, id string) (domain.Client, error)
}

// corsMaxAge is how long, in seconds, a browser may cache a granted
// preflight: ten minutes, so an origin a client removes stops working
// soon after.
const corsMaxAge = 600

// corsAllowHeaders are the request headers a client origin may send to
// the token and revocation endpoints: Basic client authentication and the
// form's content type.
const corsAllowHeaders = "Authorization, Content-Type"

// corsExposeHeaders are the answer headers a script may read beside the
// safelisted ones: the wait after a rate limit, and the authentication
// challenge of invalid_client.
const corsExposeHeaders = "Retry-After, WWW-Authenticate"

// clientOriginRoute reports whether path is one of the routes that answer
// the origins of clients.
func clientOriginRoute(path string) bool { return path == pathToken || path == pathRevoke }

// publicRoute reports whether path is a public document any origin may
// read.
func publicRoute(path string) bool { return path == pathJWKS || path == pathMetadata }

// preflight answers every OPTIONS request to a known path (httprouter has
// set Allow). A CORS preflight (with Origin and
// Access-Control-Request-Method) of the token or revocation endpoint from
// an origin some client registered, asking for POST, and one of a public
// document asking for GET, is granted; anything else is answered 204
// without CORS headers, which a browser takes as a refusal.
func (s *server) preflight(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	method := r.Header.Get("Access-Control-Request-Method")
	h := w.Header()
	switch {
	case origin == "" || method == "":
	case publicRoute(r.URL.Path):
		if method == http.MethodGet || method == http.MethodHead {
			h.Set("Access-Control-Allow-Origin", "*")
			h.Set("Access-Control-Allow-Methods", "GET, HEAD")
			h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
		}
	case clientOriginRoute(r.URL.Path):
		h.Add("Vary", "Origin")
		if method != http.MethodPost || s.origins == nil {
			break
		}
		ok, err := s.origins.WebOriginRegistered(r.Context(), origin)
		if err != nil {
			s.log.WarnContext(r.Context(), "httpapi: cors preflight: look up the origin", "err", err)
			break
		}
		if ok {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", http.MethodPost)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", strconv.Itoa(corsMaxAge))
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// allowClientOrigin lets the request's Origin read the answer of the token
// or revocation endpoint when the client clientID (as the request
// identifies it, authenticated or not yet) registered that origin. It
// sets Vary: Origin in any case, and must run before the answer is
// written.
func (s *server) allowClientOrigin(w http.ResponseWriter, r *http.Request, clientID string) {
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" || clientID == "" || s.origins == nil || !domain.ValidID(clientID) {
		return
	}
	c, err := s.origins.Client(r.Context(), clientID)
	if err != nil || !c.AllowsWebOrigin(origin) {
		return
	}
	w.Header().Set("Access-Control-Allow-Origin", origin)
	w.Header().Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// allowAnyOrigin lets any origin read a public document.
func allowAnyOrigin(w http.ResponseWriter) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
}
