package httpapi

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/stamp-oauth/stamp/domain"
)

// personText is what an error page tells a person about an RFC 6749 error
// code: a heading and a sentence-case message saying what happened and
// what to do. The code itself is shown beneath, small, for whoever has to
// debug it.
type personText struct{ heading, message string }

// personTexts are the texts of the error codes a person can meet in a
// browser (the approval screen, the login, the device pages). Codes not
// listed get defaultPersonText.
var personTexts = map[string]personText{
	domain.ErrInvalidClient.Code: {"This application is not recognised",
		"The application that sent you here is not registered with this server, or has been removed. " +
			"Go back to the application and try again; if this keeps happening, tell its developer."},
	domain.ErrInvalidRequest.Code: {"This sign-in link cannot be used",
		"The application that sent you here made a request this server cannot accept, so it cannot send you back to it safely. " +
			"Go back to the application and try again; if this keeps happening, tell its developer."},
	domain.ErrUnauthorizedClient.Code: {"This application cannot sign you in this way",
		"The application asked for a kind of access it is not allowed to use. Go back to the application and tell its developer."},
	domain.ErrUnsupportedResponseType.Code: {"This application cannot sign you in this way",
		"The application asked for a kind of access this server does not offer. Go back to the application and tell its developer."},
	domain.ErrInvalidScope.Code: {"This application asked for unknown permissions",
		"The application asked for permissions this server does not offer. Go back to the application and tell its developer."},
	domain.ErrAccessDenied.Code: {"Access was not given",
		"The request was denied, so the application has no access. If this was a mistake, start again from the application."},
	domain.ErrInvalidGrant.Code: {"This code cannot be used",
		"The code is unknown, was already used or has expired. Check the code shown on your device, or start again there to get a new one."},
	domain.ErrExpiredToken.Code: {"This code has expired",
		"The code is no longer valid. Start again on your device to get a new one."},
	domain.ErrServerError.Code: {"Something went wrong",
		"The server met an unexpected condition. Try again later."},
	"temporarily_unavailable": {"Try again in a moment",
		"The server cannot complete the request right now. Wait a moment, then try again."},
}

// defaultPersonText is the text of a code personTexts does not list.
var defaultPersonText = personText{"This request cannot be completed",
	"The application that sent you here made a request this server cannot complete. Go back to the application and try again."}

// oauthMessage returns the page for an OAuth error: the person's text,
// with the code and the developer's description beneath.
func oauthMessage(e *domain.OAuthError) message {
	t, ok := personTexts[e.Code]
	if !ok {
		t = defaultPersonText
	}
	return message{Heading: t.heading, Message: t.message, Detail: e.Code, Description: e.Description}
}

// wayBack adds the links every error page offers: the dashboard, and the
// login for someone not logged in.
func (s *server) wayBack(m *message, loggedIn bool) {
	m.Home = s.base + pathDashboard
	if !loggedIn {
		m.Login = s.base + pathLogin
	}
}

// wantsHTML reports whether r prefers HTML to JSON by its Accept header
// (RFC 9110 §12.5.1): text/html (or application/xhtml+xml) with a
// quality above 0 and at least that of application/json. A browser's
// navigation sends that; curl (*/*), API clients and requests without
// Accept get JSON.
func wantsHTML(r *http.Request) bool {
	html, json := -1.0, -1.0
	wild := -1.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		typ, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
				q = f
			}
		}
		switch typ {
		case "text/html", "application/xhtml+xml":
			html = max(html, q)
		case "application/json":
			json = max(json, q)
		case "*/*", "application/*":
			wild = max(wild, q)
		}
	}
	if json < 0 {
		json = wild
	}
	return html > 0 && html >= json
}

// notFoundPage answers an unknown path for a browser: 404 with a way
// back. The session is not resolved (no lookup for a wrong address), so
// both the dashboard and the login are offered.
func (s *server) notFoundPage(w http.ResponseWriter, r *http.Request) {
	s.htmlHeaders(w)
	m := message{Heading: "Page not found",
		Message: "There is no page at this address. Check the address, or go to your dashboard.",
		Detail:  "not_found"}
	s.wayBack(&m, false)
	s.renderMessage(w, r, http.StatusNotFound, visitor{}, m)
}

// methodNotAllowedPage is methodNotAllowed for a browser.
func (s *server) methodNotAllowedPage(w http.ResponseWriter, r *http.Request) {
	s.htmlHeaders(w)
	m := message{Heading: "This page cannot be used this way",
		Message: "The address exists, but not for this kind of request. Go back to the page you came from and try again.",
		Detail:  "method_not_allowed", Description: fmt.Sprintf("the method %s is not allowed here", r.Method)}
	s.wayBack(&m, false)
	s.renderMessage(w, r, http.StatusMethodNotAllowed, visitor{}, m)
}
