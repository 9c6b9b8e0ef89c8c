package httpapi

import (
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// tokenJSON is an access token as Passport's JSON API shows it: never
// the token itself, which only its creation returns.
type tokenJSON struct {
	ID        string    `json:"id"`
	UserID    string    `json:"user_id"`
	ClientID  string    `json:"client_id"`
	Name      *string   `json:"name"` // null but for personal access tokens
	Scopes    []string  `json:"scopes"`
	Revoked   bool      `json:"revoked"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// Client is the token's client, in the lists (Passport loads it).
	Client *clientJSON `json:"client,omitempty"`
}

func tokenView(t domain.AccessToken) tokenJSON {
	updated := t.IssuedAt
	if t.Revoked {
		updated = t.RevokedAt
	}
	return tokenJSON{
		ID: t.ID, UserID: t.UserID, ClientID: t.ClientID, Name: nullable(t.Name),
		Scopes: orEmpty(t.Scopes), Revoked: t.Revoked,
		CreatedAt: t.IssuedAt, UpdatedAt: updated, ExpiresAt: t.ExpiresAt,
	}
}

// tokenList is the JSON of a list of tokens, each with its client.
func tokenList(list []domain.UserToken) []tokenJSON {
	out := make([]tokenJSON, 0, len(list))
	for _, ut := range list {
		v, c := tokenView(ut.Token), clientView(ut.Client)
		v.Client = &c
		out = append(out, v)
	}
	return out
}

// newPersonalTokenJSON is Passport's PersonalAccessTokenResult: the token,
// shown this once, and its record.
type newPersonalTokenJSON struct {
	AccessToken string    `json:"accessToken"`
	Token       tokenJSON `json:"token"`
}

// personalTokenBody is the body of POST /oauth/personal-access-tokens:
// a name and the scopes, a list (or one space-delimited string).
type personalTokenBody struct {
	Name   string     `json:"name"`
	Scopes stringList `json:"scopes"`
}

func (b *personalTokenBody) bindForm(v url.Values) error {
	b.Name = v.Get("name")
	b.Scopes = formList(v, "scopes")
	return nil
}

// scopes returns the requested scopes, each item split as a scope
// parameter (RFC 6749 §3.3), duplicates dropped.
func (b personalTokenBody) scopes() []string {
	out := []string{}
	for _, item := range b.Scopes {
		for _, s := range domain.ParseScope(item) {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// listAuthorizedTokens answers GET /oauth/tokens: the live tokens the
// user's authorized applications hold, newest first, each with its
// client (personal access and first-party tokens are left out).
func (s *server) listAuthorizedTokens(w http.ResponseWriter, r *http.Request, _ httprouter.Params, p principal) {
	list, err := s.api.AuthorizedTokens(r.Context(), p.userID)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, tokenList(list))
}

// listPersonalTokens answers GET /oauth/personal-access-tokens: the
// user's live personal access tokens, newest first, each with its client.
func (s *server) listPersonalTokens(w http.ResponseWriter, r *http.Request, _ httprouter.Params, p principal) {
	list, err := s.api.PersonalAccessTokens(r.Context(), p.userID)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, tokenList(list))
}

// createPersonalToken answers POST /oauth/personal-access-tokens: 200
// (as Passport) with {"accessToken", "token"}; a bad name or scope is 422.
func (s *server) createPersonalToken(w http.ResponseWriter, r *http.Request, _ httprouter.Params, p principal) {
	var b personalTokenBody
	if err := readBody(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	pat, err := s.api.CreatePersonalAccessToken(r.Context(), p.actor(), p.userID, b.Name, b.scopes())
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, newPersonalTokenJSON{AccessToken: pat.AccessToken, Token: tokenView(pat.Token)})
}

// revokeToken answers DELETE /oauth/tokens/{id} and DELETE
// /oauth/personal-access-tokens/{id}: the user's token and the refresh
// token issued with it are revoked; 204, or 404 for someone else's or an
// unknown token.
func (s *server) revokeToken(w http.ResponseWriter, r *http.Request, ps httprouter.Params, p principal) {
	if err := s.api.RevokeUserToken(r.Context(), p.userID, ps.ByName("id")); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
