package httpapi

import (
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// noStore marks a response that carries or concerns credentials as not to
// be cached (RFC 6749 §5.1; Pragma for HTTP/1.0 caches). Set before any
// parsing, so error answers carry it too.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// token answers POST /oauth/token (RFC 6749 §3.2): grant_type, scope and
// the client authentication are taken out of the form; every other
// parameter goes to the grant in TokenRequest.Form, and the client's
// address (clientAddr) to TokenRequest.Remote for rate limiting. Success
// is 200 with the RFC 6749 §5.1 JSON.
func (s *server) token(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	noStore(w)
	form, cred, err := s.clientForm(w, r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.allowClientOrigin(w, r, cred.ID)
	req := domain.TokenRequest{GrantType: form["grant_type"], Client: cred, Scope: form["scope"], Form: form, Remote: s.clientAddr(r)}
	delete(form, "grant_type")
	delete(form, "scope")
	resp, err := s.svc.Token(r.Context(), req)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, resp)
}

// introspect answers POST /oauth/introspect (RFC 7662 §2): the caller
// authenticates as a client and names the token; token_type_hint is
// accepted and ignored (§2.1 lets the server search every type). Success
// is 200 with the §2.2 JSON; an inactive token is {"active":false}.
func (s *server) introspect(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	noStore(w)
	form, cred, err := s.clientForm(w, r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	if err := s.staleGate(); err != nil {
		s.renderError(w, r, err)
		return
	}
	in, err := s.svc.Introspect(r.Context(), cred, form["token"])
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, in)
}

// revoke answers POST /oauth/revoke (RFC 7009 §2.1): the caller
// authenticates as a client and names the token, with an optional
// token_type_hint. Success, including for a token the server does not
// know (§2.2, decided by the service), is 200 with an empty body.
func (s *server) revoke(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	noStore(w)
	form, cred, err := s.clientForm(w, r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.allowClientOrigin(w, r, cred.ID)
	if err := s.svc.Revoke(r.Context(), cred, form["token"], form["token_type_hint"]); err != nil {
		s.renderError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
