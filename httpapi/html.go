package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"

	"github.com/stamp-oauth/stamp/domain"
)

// templateFS holds the pages: layout.html (the frame, shared snippets),
// one file per page defining "content", and style.css, inlined.
//
//go:embed templates
var templateFS embed.FS

// Page names, the files under templates/.
const (
	pageLogin         = "login.html"
	pageAuthorize     = "authorize.html"
	pageDevice        = "device.html"
	pageDeviceConfirm = "device_confirm.html"
	pageMessage       = "message.html"
)

// pages are the parsed templates, by page name, with the stylesheet and
// the Content-Security-Policy that allows exactly that stylesheet.
type pages struct {
	byName map[string]*template.Template
	css    template.CSS
	csp    string
}

// parsePages parses every page with the layout. It fails only if an
// embedded template is broken, which the tests catch.
func parsePages() (pages, error) {
	css, err := templateFS.ReadFile("templates/style.css")
	if err != nil {
		return pages{}, fmt.Errorf("httpapi: read stylesheet: %w", err)
	}
	sum := sha256.Sum256(css)
	p := pages{
		byName: map[string]*template.Template{},
		css:    template.CSS(css),
		// No script at all; the one inline stylesheet by its hash; no
		// framing (the approval screen must not be clickjacked).
		// form-action is left out on purpose: browsers apply it to the
		// redirect after a form post, which would block the redirect to
		// the client that approving ends with.
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
			"'; frame-ancestors 'none'; base-uri 'none'",
	}
	for _, name := range []string{pageLogin, pageAuthorize, pageDevice, pageDeviceConfirm, pageMessage} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name)
		if err != nil {
			return pages{}, fmt.Errorf("httpapi: parse %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// frame is what the layout renders around a page.
type frame struct {
	Title string
	Base  string // the issuer's path, prefix of every link
	CSS   template.CSS
	User  *domain.User // the footer's "signed in as", nil for a guest
	CSRF  string       // the session's CSRF token
	Page  any          // the page's own data
}

// field is a hidden form field.
type field struct{ Name, Value string }

// message is the data of message.html: errors and results.
type message struct {
	Heading, Message string
	Detail           string // an error code, shown small
	Description      string // the code's developer description, shown small
	Link             *link
	// Home and Login are the way back of an error page (see wayBack):
	// the dashboard's and the login's paths, "" for none.
	Home, Login string
}

type link struct{ Href, Text string }

// htmlHeaders sets the headers of every HTML answer, before any parsing so
// error pages carry them too: never cached (pages hold CSRF tokens), not
// framed, not sniffed, no referrer (authorization URLs carry state).
func (s *server) htmlHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Security-Policy", s.pages.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// render writes page name with status, in the frame of v's session. A
// template that fails to execute is logged and answered 500; nothing of
// it reaches the client.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, name, title string, v visitor, page any) {
	var buf bytes.Buffer
	f := frame{Title: title, Base: s.base, CSS: s.pages.css, User: v.user, CSRF: v.sess.CSRF, Page: page}
	if err := s.pages.byName[name].ExecuteTemplate(&buf, "layout", f); err != nil {
		s.log.ErrorContext(r.Context(), "httpapi: render page", "page", name, "path", r.URL.Path, "error", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderMessage writes message.html.
func (s *server) renderMessage(w http.ResponseWriter, r *http.Request, status int, v visitor, m message) {
	s.render(w, r, status, pageMessage, m.Heading, v, m)
}

// forbidden answers a browser form that fails its checks (no session, a
// wrong CSRF token or screen token): 403, telling the user to start
// again, and nothing about which check failed.
func (s *server) forbidden(w http.ResponseWriter, r *http.Request, v visitor) {
	m := message{
		Heading: "This form has expired",
		Message: "The page you sent was out of date or did not come from this site. Go back, reload the page and try again.",
	}
	s.wayBack(&m, v.user != nil)
	s.renderMessage(w, r, http.StatusForbidden, v, m)
}

// renderPageError is renderError for the browser: an HTML page, never a
// redirect (the caller redirects *domain.RedirectError itself).
//
//   - a body over the limit: 413;
//   - domain.ErrRateLimited: 429 "Too many attempts", with Retry-After;
//   - *domain.OAuthError: 400 (500 for server_error, 503 for
//     temporarily_unavailable) with a text for a person (oauthMessage),
//     the code and its description beneath;
//   - domain.ErrNotFound: 404;
//   - context errors: 503 (a deadline logged as a warning);
//   - anything else: logged once and answered 500 with no detail.
//
// Every page offers a way back: the dashboard, and the login for someone
// not logged in.
func (s *server) renderPageError(w http.ResponseWriter, r *http.Request, v visitor, err error) {
	var (
		tooLarge *http.MaxBytesError
		oauthErr *domain.OAuthError
		status   int
		m        message
	)
	switch {
	case errors.As(err, &tooLarge):
		status, m = http.StatusRequestEntityTooLarge, message{Heading: "Request too large", Message: "The form sent is too large."}
	case errors.Is(err, domain.ErrRateLimited):
		wait := setRetryAfter(w, err)
		status, m = http.StatusTooManyRequests, message{Heading: "Too many attempts", Message: "Too many attempts. Wait " + waitText(wait) + ", then try again."}
	case errors.As(err, &oauthErr):
		setRetryAfter(w, err)
		status = oauthStatus(oauthErr.Code)
		if status == http.StatusUnauthorized {
			status = http.StatusBadRequest // no HTTP authentication to challenge in a browser
		}
		m = oauthMessage(oauthErr)
	case errors.Is(err, domain.ErrNotFound):
		status, m = http.StatusNotFound, message{Heading: "Not found", Message: "What you asked for does not exist. Check the address, or go to your dashboard.", Detail: "not_found"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if errors.Is(err, context.DeadlineExceeded) {
			s.log.WarnContext(r.Context(), "httpapi: request timed out", "method", r.Method, "path", r.URL.Path, "error", err)
		}
		setRetryAfter(w, err)
		status, m = http.StatusServiceUnavailable, message{Heading: "Try again", Message: "The request could not be completed in time. Try again."}
	default:
		s.log.ErrorContext(r.Context(), "httpapi: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		status, m = http.StatusInternalServerError, message{Heading: "Something went wrong", Message: "The server met an unexpected condition. Try again later.", Detail: domain.ErrServerError.Code}
	}
	s.wayBack(&m, v.user != nil)
	s.renderMessage(w, r, status, v, m)
}

// redirect answers code with Location loc and no body. Unlike
// http.Redirect it never rewrites loc.
func redirect(w http.ResponseWriter, loc string, code int) {
	w.Header().Set("Location", loc)
	w.WriteHeader(code)
}
