package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// clientJSON is a client as Passport's JSON API shows it. It never
// carries the secret's hash.
type clientJSON struct {
	ID     string  `json:"id"`
	UserID *string `json:"user_id"` // null for a client nobody owns
	Name   string  `json:"name"`
	// Redirect is Passport's field: the redirect URIs joined by commas.
	Redirect             string    `json:"redirect"`
	RedirectURIs         []string  `json:"redirect_uris"`
	GrantTypes           []string  `json:"grant_types"`
	PersonalAccessClient bool      `json:"personal_access_client"`
	PasswordClient       bool      `json:"password_client"`
	Revoked              bool      `json:"revoked"`
	CreatedAt            time.Time `json:"created_at"`
	UpdatedAt            time.Time `json:"updated_at"`
	// Audiences are the resources (RFC 8707) the client's tokens may be
	// requested for; absent when there are none.
	Audiences []string `json:"audiences,omitempty"`
	// WebOrigins are the browser origins that may call the token and
	// revocation endpoints for the client (CORS); absent when there are
	// none.
	WebOrigins []string `json:"web_origins,omitempty"`
}

func clientView(c domain.Client) clientJSON {
	return clientJSON{
		ID: c.ID, UserID: nullable(c.UserID), Name: c.Name,
		Redirect: strings.Join(c.RedirectURIs, ","), RedirectURIs: orEmpty(c.RedirectURIs),
		GrantTypes:           orEmpty(c.Grants),
		PersonalAccessClient: c.HasGrant(domain.GrantPersonalAccess),
		PasswordClient:       c.HasGrant(domain.GrantPassword),
		Revoked:              c.Deleted,
		CreatedAt:            c.CreatedAt, UpdatedAt: c.UpdatedAt,
		Audiences: c.Audiences, WebOrigins: c.WebOrigins,
	}
}

// newClientJSON is a client just created: with its secret in clear, shown
// this once, as "secret" and as Passport 11's "plainSecret"; both are
// null for a public client.
type newClientJSON struct {
	clientJSON
	Secret      *string `json:"secret"`
	PlainSecret *string `json:"plainSecret"`
}

// nullable returns nil for "", so JSON shows null.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// orEmpty returns list, or an empty list for nil, so JSON shows [].
func orEmpty(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}

// clientBody is the body of POST /oauth/clients and PUT
// /oauth/clients/{id}: Passport's name and redirect (one URI, several
// joined by commas, or a list), or redirect_uris (a list, Passport 13's);
// and, on creation, confidential (default true); audiences (RFC 8707
// resource URIs, one or a list) and web_origins (CORS origins,
// scheme://host[:port], one or a list), each absent on an update to keep
// the client's.
type clientBody struct {
	Name         string      `json:"name"`
	Redirect     stringList  `json:"redirect"`
	RedirectURIs stringList  `json:"redirect_uris"`
	Confidential *bool       `json:"confidential"`
	Audiences    *stringList `json:"audiences"`
	WebOrigins   *stringList `json:"web_origins"`
}

// audiences returns the audiences b gives, trimmed and without empty
// ones (so "audiences": [] or a form's empty audiences= clears them); nil
// when it gives none.
func (b clientBody) audiences() []string {
	if b.Audiences == nil {
		return nil
	}
	out := []string{}
	for _, a := range *b.Audiences {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// webOrigins returns the web origins b gives, as audiences does.
func (b clientBody) webOrigins() []string {
	if b.WebOrigins == nil {
		return nil
	}
	out := []string{}
	for _, o := range *b.WebOrigins {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

func (b *clientBody) bindForm(v url.Values) (err error) {
	b.Name = v.Get("name")
	b.Redirect = formList(v, "redirect")
	b.RedirectURIs = formList(v, "redirect_uris")
	if _, ok := v["audiences"]; ok {
		b.Audiences = new(formList(v, "audiences"))
	} else if _, ok := v["audiences[]"]; ok {
		b.Audiences = new(formList(v, "audiences"))
	}
	if _, ok := v["web_origins"]; ok {
		b.WebOrigins = new(formList(v, "web_origins"))
	} else if _, ok := v["web_origins[]"]; ok {
		b.WebOrigins = new(formList(v, "web_origins"))
	}
	b.Confidential, err = formBool(v, "confidential")
	return err
}

// redirects returns the redirect URIs of b and the field that named them,
// for error messages. Giving both fields is a *domain.ValidationError.
func (b clientBody) redirects() ([]string, string, error) {
	list, field := b.Redirect, "redirect"
	switch {
	case len(b.Redirect) > 0 && len(b.RedirectURIs) > 0:
		return nil, field, &domain.ValidationError{Field: field, Message: "give redirect or redirect_uris, not both"}
	case len(b.RedirectURIs) > 0:
		list, field = b.RedirectURIs, "redirect_uris"
	}
	out := []string{}
	for _, item := range list {
		for uri := range strings.SplitSeq(item, ",") {
			if uri = strings.TrimSpace(uri); uri != "" {
				out = append(out, uri)
			}
		}
	}
	return out, field, nil
}

// listClients answers GET /oauth/clients: the user's clients, oldest
// first.
func (s *server) listClients(w http.ResponseWriter, r *http.Request, _ httprouter.Params, p principal) {
	clients, err := s.api.ClientsOf(r.Context(), p.userID)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	out := make([]clientJSON, 0, len(clients))
	for _, c := range clients {
		out = append(out, clientView(c))
	}
	s.respond(w, r, http.StatusOK, out)
}

// createClient answers POST /oauth/clients: a client of the user for the
// authorization code grant (with refresh tokens), confidential unless the
// body says "confidential": false. Success is 201 with the client and its
// secret.
func (s *server) createClient(w http.ResponseWriter, r *http.Request, _ httprouter.Params, p principal) {
	var b clientBody
	if err := readBody(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	uris, field, err := b.redirects()
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	c, secret, err := s.api.RegisterClient(r.Context(), p.actor(), domain.RegisterClient{
		Name:         b.Name,
		Grants:       []string{domain.GrantAuthorizationCode, domain.GrantRefreshToken},
		RedirectURIs: uris,
		UserID:       p.userID,
		Public:       b.Confidential != nil && !*b.Confidential,
		Audiences:    b.audiences(),
		WebOrigins:   b.webOrigins(),
	})
	if err != nil {
		s.renderAPIError(w, r, renameField(err, "redirect_uris", field))
		return
	}
	out := newClientJSON{clientJSON: clientView(c), Secret: nullable(secret), PlainSecret: nullable(secret)}
	s.respond(w, r, http.StatusCreated, out)
}

// updateClient answers PUT /oauth/clients/{id}: the new name and redirect
// URIs (and, when given, audiences) of one of the user's clients; its
// allowed scopes are kept. Success
// is 200 with the client; someone else's client is 404.
func (s *server) updateClient(w http.ResponseWriter, r *http.Request, ps httprouter.Params, p principal) {
	current, err := s.ownedClient(r.Context(), p.userID, ps.ByName("id"))
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	var b clientBody
	if err := readBody(w, r, s.opts.MaxBodyBytes, &b); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	uris, field, err := b.redirects()
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	c, err := s.api.UpdateClient(r.Context(), p.actor(), domain.UpdateClient{
		ClientID: current.ID, Name: b.Name, RedirectURIs: uris, Scopes: current.Scopes, UserID: p.userID,
		Audiences: b.audiences(), WebOrigins: b.webOrigins(),
	})
	if err != nil {
		s.renderAPIError(w, r, renameField(err, "redirect_uris", field))
		return
	}
	s.respond(w, r, http.StatusOK, clientView(c))
}

// deleteClient answers DELETE /oauth/clients/{id}: 204, or 404 for
// someone else's client. The client's tokens stop validating at once.
func (s *server) deleteClient(w http.ResponseWriter, r *http.Request, ps httprouter.Params, p principal) {
	if err := s.api.DeleteClient(r.Context(), p.actor(), ps.ByName("id"), p.userID); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ownedClient returns the live client id that userID owns, or an error
// wrapping domain.ErrNotFound.
func (s *server) ownedClient(ctx context.Context, userID, id string) (domain.Client, error) {
	clients, err := s.api.ClientsOf(ctx, userID)
	if err != nil {
		return domain.Client{}, err
	}
	for _, c := range clients {
		if c.ID == id {
			return c, nil
		}
	}
	return domain.Client{}, fmt.Errorf("httpapi: client %q of user %q: %w", id, userID, domain.ErrNotFound)
}
