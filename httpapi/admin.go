package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// The admin API: server-to-server JSON under /admin, for the application
// that uses stamp for its users (see Admin). Every route takes a client
// credentials access token carrying the admin scope (domain.AdminScope)
// as a bearer token, and every event it appends names that client as its
// actor.
const (
	pathAdminUsers         = "/admin/users"
	pathAdminUser          = "/admin/users/:id"
	pathAdminUserTokens    = "/admin/users/:id/tokens"
	pathAdminUserToken     = "/admin/users/:id/tokens/:token"
	pathAdminUserAuthzs    = "/admin/users/:id/authorizations"
	pathAdminUserAuthz     = "/admin/users/:id/authorizations/:client"
	pathAdminUserAudit     = "/admin/users/:id/audit"
	pathAdminClients       = "/admin/clients"
	pathAdminClient        = "/admin/clients/:id"
	pathAdminClientSecret  = "/admin/clients/:id/secret"
	pathAdminClientAudit   = "/admin/clients/:id/audit"
	adminChallenge         = `Bearer realm="stamp-admin", scope="admin"`
	adminScopeChallenge    = `Bearer error="insufficient_scope", scope="admin"`
	adminInvalidChallenge  = `Bearer error="invalid_token"`
	adminErrConflict       = "conflict"
	adminErrNotFound       = "not_found"
	adminErrInsufficient   = "insufficient_scope"
	adminErrInvalidToken   = "invalid_token"
	adminErrUnauthorized   = "unauthorized"
	adminErrInvalidRequest = "invalid_request"
)

// Admin is what the admin API asks of the service (*domain.Service, with
// Audit from the program, which reads the log). Errors: *domain.ValidationError
// for a bad field, errors wrapping domain.ErrNotFound for an unknown or
// deleted user, client or token, domain.ErrUserExists for a taken user id;
// anything else as the Service documents.
type Admin interface {
	RegisterExternalUser(ctx context.Context, actor domain.Actor, cmd domain.ExternalUser) (domain.User, error)
	UserByID(ctx context.Context, userID string) (domain.User, error)
	ChangePassword(ctx context.Context, actor domain.Actor, userID, password string) error
	DeleteUser(ctx context.Context, actor domain.Actor, userID string) error

	ClientByID(ctx context.Context, clientID string) (domain.Client, error)
	RegisterClient(ctx context.Context, actor domain.Actor, cmd domain.RegisterClient) (domain.Client, string, error)
	UpdateClient(ctx context.Context, actor domain.Actor, cmd domain.UpdateClient) (domain.Client, error)
	RegenerateSecret(ctx context.Context, actor domain.Actor, clientID, userID string) (domain.Client, string, error)
	DeleteClient(ctx context.Context, actor domain.Actor, clientID, userID string) error

	CreatePersonalAccessToken(ctx context.Context, actor domain.Actor, userID, name string, scopes []string) (domain.PersonalAccessToken, error)
	AllUserTokens(ctx context.Context, userID string) ([]domain.UserToken, error)
	RevokeUserTokenAs(ctx context.Context, actor domain.Actor, userID, jti string) error
	UserAuthorizations(ctx context.Context, userID string) ([]domain.Authorization, error)
	RevokeAuthorizationAs(ctx context.Context, actor domain.Actor, userID, clientID string) error
	LogOutEverywhere(ctx context.Context, actor domain.Actor, userID string) (domain.LoggedOut, error)

	// Audit answers what happened to the user or client (kind
	// domain.KindUser or domain.KindClient) id, from the log; an id the
	// log knows nothing about is domain.ErrNotFound.
	Audit(ctx context.Context, kind, id string) (domain.SubjectAudit, error)
}

// adminHandle is an admin API handler, called once the request carries a
// valid admin token; actor is the calling client.
type adminHandle func(w http.ResponseWriter, r *http.Request, ps httprouter.Params, actor domain.Actor)

// registerAdmin adds the admin API's routes.
func (s *server) registerAdmin(r *routeTable) {
	r.POST(pathAdminUsers, s.adminAuthed(s.adminCreateUser))
	r.GET(pathAdminUser, s.adminAuthed(s.adminGetUser))
	r.Handle(http.MethodPatch, pathAdminUser, s.adminAuthed(s.adminUpdateUser))
	r.DELETE(pathAdminUser, s.adminAuthed(s.adminDeleteUser))
	r.GET(pathAdminUserTokens, s.adminAuthed(s.adminListTokens))
	r.POST(pathAdminUserTokens, s.adminAuthed(s.adminCreateToken))
	r.DELETE(pathAdminUserTokens, s.adminAuthed(s.adminLogOutEverywhere))
	r.DELETE(pathAdminUserToken, s.adminAuthed(s.adminRevokeToken))
	r.GET(pathAdminUserAuthzs, s.adminAuthed(s.adminListAuthorizations))
	r.DELETE(pathAdminUserAuthz, s.adminAuthed(s.adminRevokeAuthorization))
	r.GET(pathAdminUserAudit, s.adminAuthed(s.adminAudit(domain.KindUser)))
	r.POST(pathAdminClients, s.adminAuthed(s.adminCreateClient))
	r.GET(pathAdminClient, s.adminAuthed(s.adminGetClient))
	r.Handle(http.MethodPatch, pathAdminClient, s.adminAuthed(s.adminUpdateClient))
	r.DELETE(pathAdminClient, s.adminAuthed(s.adminDeleteClient))
	r.POST(pathAdminClientSecret, s.adminAuthed(s.adminRegenerateSecret))
	r.GET(pathAdminClientAudit, s.adminAuthed(s.adminAudit(domain.KindClient)))
}

// adminError is a refusal of the admin API: its status, the RFC 6749
// style error code and description, the field at fault for a 422, and
// the RFC 6750 §3 challenge of a 401 or 403.
type adminError struct {
	status      int
	code        string
	description string
	field       string
	challenge   string
}

func (e *adminError) Error() string { return "httpapi: admin: " + e.description }

// adminErrorBody is the admin API's error document.
type adminErrorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Field       string `json:"field,omitempty"`
}

var (
	errAdminNoToken = &adminError{http.StatusUnauthorized, adminErrUnauthorized,
		"the admin API needs a bearer token: a client credentials access token with the admin scope", "", adminChallenge}
	errAdminBadToken = &adminError{http.StatusUnauthorized, adminErrInvalidToken,
		"the bearer token is invalid, expired or revoked", "", adminInvalidChallenge}
	errAdminNotClient = &adminError{http.StatusForbidden, adminErrInsufficient,
		"the admin API takes a client credentials token (a token of a client, not of a user)", "", adminScopeChallenge}
	errAdminNoScope = &adminError{http.StatusForbidden, adminErrInsufficient,
		"the token lacks the admin scope: create the client with it (stamp client create --client --scopes admin) and request it", "", adminScopeChallenge}
)

// adminAuthed wraps h in the admin API's authentication: a bearer token
// that validates (401 otherwise), of a client credentials grant (403) and
// carrying the admin scope by name, "*" does not cover it (403
// insufficient_scope). Every answer is marked no-store.
func (s *server) adminAuthed(h adminHandle) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
		noStore(w)
		actor, err := s.adminActor(r)
		if err != nil {
			s.renderAdminError(w, r, err)
			return
		}
		h(w, r, ps, actor)
	}
}

func (s *server) adminActor(r *http.Request) (domain.Actor, error) {
	raw, ok := bearerToken(r)
	if !ok {
		return domain.Actor{}, errAdminNoToken
	}
	if raw == "" {
		return domain.Actor{}, errAdminBadToken
	}
	if err := s.staleGate(); err != nil {
		return domain.Actor{}, err
	}
	t, _, err := s.validator.ValidateAccessToken(r.Context(), raw)
	switch {
	case errors.Is(err, domain.ErrInvalidToken):
		return domain.Actor{}, errAdminBadToken
	case err != nil:
		return domain.Actor{}, err
	case t.UserID != "" || t.GrantType != domain.GrantClientCredentials:
		return domain.Actor{}, errAdminNotClient
	case !domain.ScopesAllow(t.Scopes, domain.AdminScope):
		return domain.Actor{}, errAdminNoScope
	}
	return domain.Actor{Kind: domain.ActorClient, ID: t.ClientID}, nil
}

// renderAdminError answers an admin API error as JSON {"error",
// "error_description"} (and "field" for a 422):
//
//   - *adminError: its status, code and challenge;
//   - *domain.ValidationError: 422 invalid_request naming the field;
//   - domain.ErrUserExists: 409 conflict;
//   - domain.ErrNotFound: 404 not_found;
//   - anything else as renderError: 413, 400 for an OAuth error, 429 and
//     503 with Retry-After, 500 logged once.
func (s *server) renderAdminError(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Cache-Control", "no-store")
	var (
		ae      *adminError
		invalid *domain.ValidationError
	)
	switch {
	case errors.As(err, &ae):
		if ae.challenge != "" {
			w.Header().Set("WWW-Authenticate", ae.challenge)
		}
		writeJSON(w, ae.status, adminErrorBody{Error: ae.code, Description: ae.description, Field: ae.field})
	case errors.As(err, &invalid):
		writeJSON(w, http.StatusUnprocessableEntity, adminErrorBody{Error: adminErrInvalidRequest,
			Description: invalid.Field + ": " + invalid.Message, Field: invalid.Field})
	case errors.Is(err, domain.ErrUserExists):
		writeJSON(w, http.StatusConflict, adminErrorBody{Error: adminErrConflict,
			Description: "a user with this id exists or existed (ids are never reused)"})
	case errors.Is(err, domain.ErrNotFound):
		writeJSON(w, http.StatusNotFound, adminErrorBody{Error: adminErrNotFound, Description: notFoundWhat(r)})
	default:
		s.renderError(w, r, err)
	}
}

// notFoundWhat describes a 404 of the admin API by its route.
func notFoundWhat(r *http.Request) string {
	switch {
	case strings.Contains(r.URL.Path, "/tokens/"):
		return "the user or the token does not exist"
	case strings.Contains(r.URL.Path, "/authorizations/"):
		return "the user or the client does not exist"
	case strings.HasPrefix(r.URL.Path, pathAdminClients):
		return "the client does not exist"
	}
	return "the user does not exist"
}

// readAdminBody reads a JSON object of at most limit bytes into dst.
// Anything but application/json is 415; malformed JSON or another value
// than an object 400; an unknown field or a value of the wrong type 422
// naming the field; a body over limit 413. An empty body leaves dst as it
// is.
func readAdminBody(w http.ResponseWriter, r *http.Request, limit int64, dst any) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return err
		}
		return &adminError{status: http.StatusBadRequest, code: adminErrInvalidRequest, description: "the request body could not be read"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return &adminError{status: http.StatusUnsupportedMediaType, code: adminErrInvalidRequest, description: "the request body must be application/json"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(dst)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil && dec.More():
		return &adminError{status: http.StatusBadRequest, code: adminErrInvalidRequest, description: "the request body holds more than one JSON value"}
	case err == nil:
		return nil
	case errors.As(err, &typeErr) && typeErr.Field != "":
		field, _, _ := strings.Cut(typeErr.Field, ".")
		return &domain.ValidationError{Field: field, Message: "has the wrong type"}
	case errors.As(err, &typeErr):
		return &adminError{status: http.StatusBadRequest, code: adminErrInvalidRequest, description: "the request body must be a JSON object"}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &domain.ValidationError{Field: field, Message: "is not a field of this request"}
	}
	return &adminError{status: http.StatusBadRequest, code: adminErrInvalidRequest, description: fmt.Sprintf("the request body is not valid JSON: %v", err)}
}
