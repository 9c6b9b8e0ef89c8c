package httpapi

import (
	"errors"
	"net/http"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// adminClientJSON is a client as the admin API shows it: Passport's
// fields and every setting `stamp client create` has. Never the secret's
// hash.
type adminClientJSON struct {
	clientJSON
	Scopes       []string `json:"scopes"`
	FirstParty   bool     `json:"first_party"`
	Confidential bool     `json:"confidential"`
}

func adminClientView(c domain.Client) adminClientJSON {
	return adminClientJSON{clientJSON: clientView(c), Scopes: orEmpty(c.Scopes), FirstParty: c.FirstParty, Confidential: c.Confidential()}
}

// adminClientSecretJSON is a client with its secret in clear, shown this
// once (null for a public client).
type adminClientSecretJSON struct {
	adminClientJSON
	Secret *string `json:"secret"`
}

// adminClientKinds are the kinds of client `stamp client create` makes,
// by the flag that names them, and their grant types.
var adminClientKinds = map[string][]string{
	"authorization_code": {domain.GrantAuthorizationCode, domain.GrantRefreshToken},
	"client":             {domain.GrantClientCredentials},
	"password":           {domain.GrantPassword, domain.GrantRefreshToken},
	"personal":           {domain.GrantPersonalAccess},
	"device":             {domain.GrantDeviceCode, domain.GrantRefreshToken},
	"implicit":           {domain.GrantImplicit},
}

// adminClientBody is the body of POST /admin/clients: name (required);
// kind, one of adminClientKinds' (default authorization_code), or
// grant_types, the list itself; public (no secret); first_party (no
// approval screen); user_id (the owner); redirect_uris, scopes (the
// allowed scopes; "admin" only by name) and audiences.
type adminClientBody struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"`
	GrantTypes   []string `json:"grant_types"`
	Public       bool     `json:"public"`
	FirstParty   bool     `json:"first_party"`
	UserID       string   `json:"user_id"`
	RedirectURIs []string `json:"redirect_uris"`
	Scopes       []string `json:"scopes"`
	Audiences    []string `json:"audiences"`
	WebOrigins   []string `json:"web_origins"`
}

// adminCreateClient answers POST /admin/clients: 201 with the client and
// its secret.
func (s *server) adminCreateClient(w http.ResponseWriter, r *http.Request, _ httprouter.Params, actor domain.Actor) {
	var b adminClientBody
	if err := readAdminBody(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	grants := b.GrantTypes
	switch {
	case b.Kind != "" && len(b.GrantTypes) > 0:
		s.renderAdminError(w, r, &domain.ValidationError{Field: "kind", Message: "give kind or grant_types, not both"})
		return
	case len(b.GrantTypes) == 0:
		kind := b.Kind
		if kind == "" {
			kind = "authorization_code"
		}
		if grants = adminClientKinds[kind]; grants == nil {
			s.renderAdminError(w, r, &domain.ValidationError{Field: "kind", Message: "want authorization_code, client, password, personal, device or implicit"})
			return
		}
	}
	if b.UserID != "" {
		if _, err := s.admin.UserByID(r.Context(), b.UserID); err != nil {
			s.renderAdminError(w, r, renameNotFound(err, "user_id"))
			return
		}
	}
	c, secret, err := s.admin.RegisterClient(r.Context(), actor, domain.RegisterClient{
		Name: b.Name, Grants: grants, RedirectURIs: b.RedirectURIs, Scopes: b.Scopes, UserID: b.UserID,
		Public: b.Public, FirstParty: b.FirstParty, Audiences: b.Audiences, WebOrigins: b.WebOrigins,
	})
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusCreated, adminClientSecretJSON{adminClientJSON: adminClientView(c), Secret: nullable(secret)})
}

// renameNotFound turns a missing user named by a field into a 422 on
// that field.
func renameNotFound(err error, field string) error {
	if _, ok := domain.AsValidation(err); !ok && errors.Is(err, domain.ErrNotFound) {
		return &domain.ValidationError{Field: field, Message: "names no user"}
	}
	return err
}

// adminGetClient answers GET /admin/clients/{id}.
func (s *server) adminGetClient(w http.ResponseWriter, r *http.Request, ps httprouter.Params, _ domain.Actor) {
	c, err := s.admin.ClientByID(r.Context(), ps.ByName("id"))
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, adminClientView(c))
}

// adminClientUpdate is the body of PATCH /admin/clients/{id}: each field
// given replaces the client's (a list whole); each absent keeps it.
type adminClientUpdate struct {
	Name         *string   `json:"name"`
	RedirectURIs *[]string `json:"redirect_uris"`
	Scopes       *[]string `json:"scopes"`
	Audiences    *[]string `json:"audiences"`
	WebOrigins   *[]string `json:"web_origins"`
}

// adminUpdateClient answers PATCH /admin/clients/{id}: 200 with the
// client.
func (s *server) adminUpdateClient(w http.ResponseWriter, r *http.Request, ps httprouter.Params, actor domain.Actor) {
	var b adminClientUpdate
	if err := readAdminBody(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	c, err := s.admin.ClientByID(r.Context(), ps.ByName("id"))
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	cmd := domain.UpdateClient{ClientID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs, Scopes: c.Scopes, Audiences: c.Audiences}
	if b.Name != nil {
		cmd.Name = *b.Name
	}
	if b.RedirectURIs != nil {
		cmd.RedirectURIs = *b.RedirectURIs
	}
	if b.Scopes != nil {
		cmd.Scopes = append([]string{}, *b.Scopes...)
	}
	if b.Audiences != nil {
		cmd.Audiences = append([]string{}, *b.Audiences...)
	}
	if b.WebOrigins != nil { // nil keeps the client's
		cmd.WebOrigins = append([]string{}, *b.WebOrigins...)
	}
	if cmd.Scopes == nil {
		cmd.Scopes = []string{} // nil would keep the client's
	}
	if cmd.Audiences == nil {
		cmd.Audiences = []string{}
	}
	c, err = s.admin.UpdateClient(r.Context(), actor, cmd)
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, adminClientView(c))
}

// adminDeleteClient answers DELETE /admin/clients/{id}: 204; the client's
// tokens stop validating.
func (s *server) adminDeleteClient(w http.ResponseWriter, r *http.Request, ps httprouter.Params, actor domain.Actor) {
	if err := s.admin.DeleteClient(r.Context(), actor, ps.ByName("id"), ""); err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminRegenerateSecret answers POST /admin/clients/{id}/secret: 200 with
// the client and its new secret, shown this once; the old secret stops
// working. A public client is 422.
func (s *server) adminRegenerateSecret(w http.ResponseWriter, r *http.Request, ps httprouter.Params, actor domain.Actor) {
	c, secret, err := s.admin.RegenerateSecret(r.Context(), actor, ps.ByName("id"), "")
	if err != nil {
		s.renderAdminError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, adminClientSecretJSON{adminClientJSON: adminClientView(c), Secret: nullable(secret)})
}
