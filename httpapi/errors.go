package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/stamp-oauth/stamp/domain"
)

// errorBody is the RFC 6749 §5.2 error document.
type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// validationBody is Laravel's 422 document, the shape Passport's JSON API
// answers a bad field with.
type validationBody struct {
	Message string              `json:"message"`
	Errors  map[string][]string `json:"errors"`
}

// genericServerError is all a client learns of an unexpected error.
const genericServerError = "the server met an unexpected condition"

// validationMessage is Laravel's top-level message of a 422 answer.
const validationMessage = "The given data was invalid."

// wwwAuthenticate is sent with every 401. RFC 6749 §5.2 requires it when
// the client used HTTP Basic, and RFC 9110 §15.5.2 requires a challenge on
// every 401, so it is sent even when the client authenticated with form
// fields: a client that reads it learns that Basic is accepted.
const wwwAuthenticate = `Basic realm="stamp"`

// renderError is the one place an error becomes a response:
//
//   - a body over the limit (*http.MaxBytesError): 413 invalid_request;
//   - *domain.OAuthError: its code and description, status 400 (among
//     them the RFC 8628 §3.5 answers to a polling device:
//     authorization_pending, slow_down, access_denied, expired_token),
//     except invalid_client 401 (with WWW-Authenticate), server_error 500
//     and temporarily_unavailable 503;
//   - domain.ErrRateLimited: 429 invalid_request, "too many attempts,
//     retry later" (see tooManyAttempts);
//   - *domain.ValidationError: 422 {"message", "errors": {field: [message]}};
//   - domain.ErrNotFound: 404 not_found;
//   - context.Canceled or DeadlineExceeded: 503 temporarily_unavailable
//     (a deadline is logged as a warning: something was too slow);
//   - anything else: logged once with the method, path and error, and
//     answered 500 server_error with a generic description, so no internal
//     detail leaks.
//
// Every error answer carries Cache-Control: no-store, and a
// *domain.RetryError (a 429 or 503) Retry-After. Handlers return after
// calling it and never log the error themselves.
func (s *server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	setRetryAfter(w, err)
	var (
		tooLarge *http.MaxBytesError
		oauthErr *domain.OAuthError
		invalid  *domain.ValidationError
	)
	switch {
	case errors.As(err, &tooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{
			Error:       domain.ErrInvalidRequest.Code,
			Description: fmt.Sprintf("the request body exceeds %d bytes", tooLarge.Limit),
		})
	case errors.As(err, &oauthErr):
		status := oauthStatus(oauthErr.Code)
		if status == http.StatusUnauthorized {
			h.Set("WWW-Authenticate", wwwAuthenticate)
		}
		writeJSON(w, status, errorBody{Error: oauthErr.Code, Description: oauthErr.Description})
	case errors.Is(err, domain.ErrRateLimited):
		writeJSON(w, http.StatusTooManyRequests, errorBody{Error: domain.ErrInvalidRequest.Code, Description: tooManyAttempts})
	case errors.As(err, &invalid):
		writeJSON(w, http.StatusUnprocessableEntity, validationBody{
			Message: validationMessage,
			Errors:  map[string][]string{invalid.Field: {invalid.Message}},
		})
	case errors.Is(err, domain.ErrNotFound):
		writeJSON(w, http.StatusNotFound, errorBody{Error: "not_found", Description: "the resource does not exist"})
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if errors.Is(err, context.DeadlineExceeded) {
			s.log.WarnContext(r.Context(), "httpapi: request timed out", "method", r.Method, "path", r.URL.Path, "error", err)
		}
		writeJSON(w, http.StatusServiceUnavailable, errorBody{
			Error:       "temporarily_unavailable",
			Description: "the request could not be completed in time; retry it",
		})
	default:
		s.log.ErrorContext(r.Context(), "httpapi: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{
			Error:       domain.ErrServerError.Code,
			Description: genericServerError,
		})
	}
}

// oauthStatus maps an RFC 6749 §5.2 error code to its HTTP status.
func oauthStatus(code string) int {
	switch code {
	case domain.ErrInvalidClient.Code:
		return http.StatusUnauthorized
	case domain.ErrServerError.Code:
		return http.StatusInternalServerError
	case "temporarily_unavailable":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// apiError is a refusal the JSON API decides itself: Laravel's
// {"message"} with status, and an RFC 6750 §3 challenge when set.
type apiError struct {
	status    int
	message   string
	challenge string // WWW-Authenticate, "" for none
}

func (e *apiError) Error() string { return "httpapi: " + e.message }

// The JSON API's own refusals, with Laravel's messages.
var (
	// errUnauthenticated: no credentials, or a cookie without its CSRF
	// header (RFC 6750 §3.1: no error code without a token).
	errUnauthenticated = &apiError{http.StatusUnauthorized, "Unauthenticated.", "Bearer"}
	// errInvalidBearer: a bearer token that does not validate.
	errInvalidBearer = &apiError{http.StatusUnauthorized, "Unauthenticated.", `Bearer error="invalid_token"`}
	// errNoUser: a valid token with no user (client credentials), or a
	// route the credentials cannot use.
	errNoUser = &apiError{http.StatusForbidden, "This action is unauthorized.", ""}
	// errNeedsWildcard: a user's bearer token without "*".
	errNeedsWildcard = &apiError{http.StatusForbidden, "Invalid scope(s) provided.", `Bearer error="insufficient_scope", scope="*"`}
)

// apiMessage is Laravel's error document: {"message": "..."}.
type apiMessage struct {
	Message string `json:"message"`
}

// renderAPIError is renderError for Passport's JSON API, which answers in
// Laravel's shapes rather than RFC 6749's:
//
//   - *apiError: its status, message and challenge;
//   - a body over the limit: 413;
//   - *domain.ValidationError: 422 {"message", "errors": {field: [message]}};
//   - domain.ErrInvalidToken: 401 (a cookie token that stopped validating);
//   - domain.ErrNotFound: 404 {"message": "Not Found."}, also for someone
//     else's client or token;
//   - domain.ErrRateLimited: 429;
//   - *domain.OAuthError: 400 with its description (500 for server_error,
//     503 for temporarily_unavailable);
//   - context errors: 503 (a deadline logged as a warning);
//   - anything else: logged once and answered 500 "Server Error.".
//
// Every answer carries Cache-Control: no-store, and a *domain.RetryError
// Retry-After.
func (s *server) renderAPIError(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Cache-Control", "no-store")
	setRetryAfter(w, err)
	var (
		denied   *apiError
		tooLarge *http.MaxBytesError
		invalid  *domain.ValidationError
		oauthErr *domain.OAuthError
	)
	switch {
	case errors.As(err, &denied):
		if denied.challenge != "" {
			w.Header().Set("WWW-Authenticate", denied.challenge)
		}
		writeJSON(w, denied.status, apiMessage{denied.message})
	case errors.As(err, &tooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, apiMessage{fmt.Sprintf("The request body exceeds %d bytes.", tooLarge.Limit)})
	case errors.As(err, &invalid):
		writeJSON(w, http.StatusUnprocessableEntity, validationBody{
			Message: validationMessage,
			Errors:  map[string][]string{invalid.Field: {invalid.Message}},
		})
	case errors.Is(err, domain.ErrInvalidToken):
		w.Header().Set("WWW-Authenticate", errInvalidBearer.challenge)
		writeJSON(w, http.StatusUnauthorized, apiMessage{"Unauthenticated."})
	case errors.Is(err, domain.ErrNotFound):
		writeJSON(w, http.StatusNotFound, apiMessage{"Not Found."})
	case errors.Is(err, domain.ErrRateLimited):
		writeJSON(w, http.StatusTooManyRequests, apiMessage{"Too Many Attempts."})
	case errors.As(err, &oauthErr) && oauthStatus(oauthErr.Code) < http.StatusInternalServerError:
		msg := oauthErr.Description
		if msg == "" {
			msg = oauthErr.Code
		}
		writeJSON(w, http.StatusBadRequest, apiMessage{msg})
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &oauthErr) && oauthStatus(oauthErr.Code) == http.StatusServiceUnavailable:
		if errors.Is(err, context.DeadlineExceeded) {
			s.log.WarnContext(r.Context(), "httpapi: request timed out", "method", r.Method, "path", r.URL.Path, "error", err)
		}
		writeJSON(w, http.StatusServiceUnavailable, apiMessage{"Service Unavailable."})
	default:
		s.log.ErrorContext(r.Context(), "httpapi: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusInternalServerError, apiMessage{"Server Error."})
	}
}
