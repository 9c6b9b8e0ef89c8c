package httpapi

import (
	"net/http"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// adminUserJSON is a user as the admin API shows it. Its id is the
// external id the user was created with, when one was given.
type adminUserJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func adminUserView(u domain.User) adminUserJSON {
	return adminUserJSON{ID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// adminUserBody is the body of POST /admin/users: external_id (optional:
// the user's id, and so its tokens' sub; a random id without it), email
// (required, unique), name (optional, default the email) and password
// (optional: without it the user has a random password nobody knows).
type adminUserBody struct {
	ExternalID string `json:"external_id"`
	Email      string `json:"email"`
	Name       string `json:"name"`
	Password   string `json:"password"`
}

// adminCreateUser answers POST /admin/users: 201 with the user, 409 when
// the id is or was taken, 422 for a bad or taken email.
func (s *server) adminCreateUser(w http.ResponseWriter, r *http.Request, _ httprouter.Params, actor domain.Actor) {
	var b adminUserBody
	if err := readAdminBody(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	u, err := s.admin.RegisterExternalUser(r.Context(), actor, domain.ExternalUser{ID: b.ExternalID, Email: b.Email, Name: b.Name, Password: b.Password})
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusCreated, adminUserView(u))
}

// adminGetUser answers GET /admin/users/{id}.
func (s *server) adminGetUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params, _ domain.Actor) {
	u, err := s.admin.UserByID(r.Context(), ps.ByName("id"))
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, adminUserView(u))
}

// adminUserUpdate is the body of PATCH /admin/users/{id}: the new
// password. A user's email and name are fixed at creation (no event
// changes them yet).
type adminUserUpdate struct {
	Password *string `json:"password"`
}

// adminUpdateUser answers PATCH /admin/users/{id}: 200 with the user.
func (s *server) adminUpdateUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params, actor domain.Actor) {
	var b adminUserUpdate
	if err := readAdminBody(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	id := ps.ByName("id")
	if _, err := s.admin.UserByID(r.Context(), id); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	if b.Password == nil {
		s.renderAdminError(w, r, &domain.ValidationError{Field: "password", Message: "is required (the only field a user's update changes)"})
		return
	}
	if err := s.admin.ChangePassword(r.Context(), actor, id, *b.Password); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	u, err := s.admin.UserByID(r.Context(), id)
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, adminUserView(u))
}

// adminDeleteUser answers DELETE /admin/users/{id}: 204; the user's tokens
// stop validating and its personal fields are erased (see
// domain.Service.DeleteUser). Deleting a deleted user again is 204 (it
// retries destroying the user's key); an unknown user is 404.
func (s *server) adminDeleteUser(w http.ResponseWriter, r *http.Request, ps httprouter.Params, actor domain.Actor) {
	if err := s.admin.DeleteUser(r.Context(), actor, ps.ByName("id")); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminTokenJSON is one of a user's live tokens with its grant type.
type adminTokenJSON struct {
	tokenJSON
	GrantType string `json:"grant_type"`
}

// adminListTokens answers GET /admin/users/{id}/tokens: every live access
// token of the user, newest first, each with its client.
func (s *server) adminListTokens(w http.ResponseWriter, r *http.Request, ps httprouter.Params, _ domain.Actor) {
	list, err := s.admin.AllUserTokens(r.Context(), ps.ByName("id"))
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	views := tokenList(list)
	out := make([]adminTokenJSON, len(views))
	for i, v := range views {
		out[i] = adminTokenJSON{tokenJSON: v, GrantType: list[i].Token.GrantType}
	}
	s.respond(w, r, http.StatusOK, out)
}

// adminTokenBody is the body of POST /admin/users/{id}/tokens: Passport's
// createToken(name, scopes).
type adminTokenBody struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// adminCreateToken answers POST /admin/users/{id}/tokens: 201 with a new
// personal access token of the user (shown this once) and its record.
func (s *server) adminCreateToken(w http.ResponseWriter, r *http.Request, ps httprouter.Params, actor domain.Actor) {
	var b adminTokenBody
	if err := readAdminBody(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	id := ps.ByName("id")
	if _, err := s.admin.UserByID(r.Context(), id); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	pat, err := s.admin.CreatePersonalAccessToken(r.Context(), actor, id, b.Name, b.Scopes)
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusCreated, newPersonalTokenJSON{AccessToken: pat.AccessToken, Token: tokenView(pat.Token)})
}

// adminRevokeToken answers DELETE /admin/users/{id}/tokens/{token}: 204;
// the token and the refresh token issued with it are revoked.
func (s *server) adminRevokeToken(w http.ResponseWriter, r *http.Request, ps httprouter.Params, actor domain.Actor) {
	if err := s.admin.RevokeUserTokenAs(r.Context(), actor, ps.ByName("id"), ps.ByName("token")); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminAuthorizationJSON is one of a user's consents: the client and the
// scopes the user granted it.
type adminAuthorizationJSON struct {
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes"`
	UpdatedAt time.Time `json:"updated_at"`
}

// adminListAuthorizations answers GET /admin/users/{id}/authorizations:
// the user's live consents, by client id.
func (s *server) adminListAuthorizations(w http.ResponseWriter, r *http.Request, ps httprouter.Params, _ domain.Actor) {
	list, err := s.admin.UserAuthorizations(r.Context(), ps.ByName("id"))
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	out := make([]adminAuthorizationJSON, 0, len(list))
	for _, a := range list {
		out = append(out, adminAuthorizationJSON{ClientID: a.ClientID, Scopes: orEmpty(a.Scopes), UpdatedAt: a.UpdatedAt})
	}
	s.respond(w, r, http.StatusOK, out)
}

// adminRevokeAuthorization answers DELETE
// /admin/users/{id}/authorizations/{client}: 204; the user's consent to
// the client and every token the client holds for the user are revoked.
func (s *server) adminRevokeAuthorization(w http.ResponseWriter, r *http.Request, ps httprouter.Params, actor domain.Actor) {
	if err := s.admin.RevokeAuthorizationAs(r.Context(), actor, ps.ByName("id"), ps.ByName("client")); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminLogOutEverywhere answers DELETE /admin/users/{id}/tokens: every
// consent, access token and refresh token of the user is revoked; 200
// with the clients concerned.
func (s *server) adminLogOutEverywhere(w http.ResponseWriter, r *http.Request, ps httprouter.Params, actor domain.Actor) {
	out, err := s.admin.LogOutEverywhere(r.Context(), actor, ps.ByName("id"))
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, out)
}

// adminAudit answers GET /admin/users/{id}/audit and
// /admin/clients/{id}/audit: what `stamp audit user|client ID --json`
// prints, from the log.
func (s *server) adminAudit(kind string) adminHandle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, _ domain.Actor) {
		id := ps.ByName("id")
		if !domain.ValidID(id) {
			s.renderAdminError(w, r, domain.ErrNotFound)
			return
		}
		a, err := s.admin.Audit(r.Context(), kind, id)
		if err != nil {
			s.renderAdminError(w, r, err)
			return
		}
		s.respond(w, r, http.StatusOK, a)
	}
}
