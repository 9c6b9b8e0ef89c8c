package domain

import (
	"errors"
	"fmt"
)

// OAuthError is an RFC 6749 §5.2 error: Code is the "error" value and
// Description the "error_description". The package's sentinels carry only a
// Code; WithDescription copies one and adds text, and errors.Is still
// matches the sentinel, so callers branch on the code whatever was added.
// OAuthError holds no HTTP status: the HTTP adapter maps codes to statuses.
type OAuthError struct {
	Code        string
	Description string
}

func (e *OAuthError) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Is reports whether target is an *OAuthError with the same code.
func (e *OAuthError) Is(target error) bool {
	t, ok := target.(*OAuthError)
	return ok && t.Code == e.Code
}

// WithDescription returns a copy of e with description set.
func (e *OAuthError) WithDescription(format string, args ...any) *OAuthError {
	return &OAuthError{Code: e.Code, Description: fmt.Sprintf(format, args...)}
}

// RFC 6749 §5.2, RFC 7009 §2.2.1 and RFC 8628 §3.5 error codes.
var (
	ErrInvalidRequest       = &OAuthError{Code: "invalid_request"}
	ErrInvalidClient        = &OAuthError{Code: "invalid_client"}
	ErrInvalidGrant         = &OAuthError{Code: "invalid_grant"}
	ErrUnauthorizedClient   = &OAuthError{Code: "unauthorized_client"}
	ErrUnsupportedGrantType = &OAuthError{Code: "unsupported_grant_type"}
	ErrInvalidScope         = &OAuthError{Code: "invalid_scope"}
	ErrAccessDenied         = &OAuthError{Code: "access_denied"}
	ErrUnsupportedTokenType = &OAuthError{Code: "unsupported_token_type"}
	ErrServerError          = &OAuthError{Code: "server_error"}

	ErrUnsupportedResponseType = &OAuthError{Code: "unsupported_response_type"}
	ErrLoginRequired           = &OAuthError{Code: "login_required"}
	ErrConsentRequired         = &OAuthError{Code: "consent_required"}

	ErrAuthorizationPending = &OAuthError{Code: "authorization_pending"}
	ErrSlowDown             = &OAuthError{Code: "slow_down"}
	ErrExpiredToken         = &OAuthError{Code: "expired_token"}
)

// ValidationError reports a command field with a bad value. The JSON API
// shows it as 422 naming Field; the CLI prints it.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("domain: invalid %s: %s", e.Field, e.Message)
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// AsValidation returns the *ValidationError inside err, if any.
func AsValidation(err error) (*ValidationError, bool) {
	var v *ValidationError
	ok := errors.As(err, &v)
	return v, ok
}
