package httpapi

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// Messages of the user-code form.
const (
	msgEnterCode = "Enter the code shown on your device."
	msgBadCode   = "That code is unknown, already used or expired. Check the code on your device and try again."
)

// maxPrefill bounds the user code copied from the query into the form.
const maxPrefill = 32

// deviceView is the data of device.html.
type deviceView struct {
	UserCode, Message string
}

// deviceConfirmView is the data of device_confirm.html.
type deviceConfirmView struct {
	Client   string
	Scopes   []string
	UserCode string
	Hidden   []field
}

// deviceCode answers POST /oauth/device/code (RFC 8628 §3.1, §3.2): the
// client authenticates as at the token endpoint and may send scope. The
// answer is 200 with domain.DeviceAuthorization as JSON, not cached;
// errors are the token endpoint's.
func (s *server) deviceCode(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	noStore(w)
	form, cred, err := s.clientForm(w, r)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	resp, err := s.web.DeviceAuthorize(r.Context(), cred, form["scope"])
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	s.respond(w, r, http.StatusOK, resp)
}

// devicePage answers GET /oauth/device[?user_code=…], the verification
// URI (§3.3): for a logged-in user, the form to type the code shown on
// the device, prefilled from user_code (verification_uri_complete);
// otherwise a redirect to the login page, which comes back here.
func (s *server) devicePage(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.htmlHeaders(w)
	v, err := s.visit(r)
	if err != nil {
		s.renderPageError(w, r, v, err)
		return
	}
	if v.user == nil {
		s.toLogin(w, s.base+r.URL.RequestURI())
		return
	}
	code := []rune(r.URL.Query().Get("user_code"))
	if len(code) > maxPrefill {
		code = code[:maxPrefill]
	}
	s.render(w, r, http.StatusOK, pageDevice, "Connect a device", v, deviceView{UserCode: string(code)})
}

// deviceConfirm answers POST /oauth/device (user_code, _token): the
// confirmation screen naming the client and the scopes, whose Approve
// and Deny forms carry the code, the CSRF token and a screen token. An
// empty, unknown, used or expired code shows the form again (422) with a
// message; after too many wrong codes (per address and user) the form
// says to wait (429, Retry-After). It needs a logged-in session and its
// CSRF token (403).
func (s *server) deviceConfirm(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.htmlHeaders(w)
	v, form, ok := s.deviceForm(w, r)
	if !ok {
		return
	}
	code := form["user_code"]
	if domain.NormalizeUserCode(code) == "" {
		s.deviceRetry(w, r, v, code, msgEnterCode)
		return
	}
	p, err := s.web.LookupUserCode(r.Context(), *v.user, code, s.clientAddr(r))
	switch {
	case errors.Is(err, domain.ErrInvalidGrant):
		s.deviceRetry(w, r, v, code, msgBadCode)
		return
	case errors.Is(err, domain.ErrRateLimited):
		wait := setRetryAfter(w, err)
		s.render(w, r, http.StatusTooManyRequests, pageDevice, "Connect a device", v, deviceView{
			UserCode: prefill(code), Message: "Too many wrong codes. Wait " + waitText(wait) + ", then try again.",
		})
		return
	case err != nil:
		s.renderPageError(w, r, v, err)
		return
	}
	shown := domain.FormatUserCode(domain.NormalizeUserCode(code))
	name := p.Client.Name
	if name == "" {
		name = p.Client.ID
	}
	s.render(w, r, http.StatusOK, pageDeviceConfirm, "Connect a device", v, deviceConfirmView{
		Client:   name,
		Scopes:   scopeLabels(p.Scopes, p.Code.Scopes),
		UserCode: shown,
		Hidden: []field{
			{"user_code", shown},
			{"_token", v.sess.CSRF},
			{"auth_token", s.sessions.screenToken(v.sess, screenDevice, url.Values{"user_code": {shown}})},
		},
	})
}

// deviceDecide returns the handler of POST /oauth/device/approve (approve
// true) or /oauth/device/deny: it checks the session, the CSRF token and
// the confirmation screen's token (403), records the decision and shows
// the result ("You can return to your device."). A code no longer
// pending shows the code form again (422).
func (s *server) deviceDecide(approve bool) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		s.htmlHeaders(w)
		v, form, ok := s.deviceForm(w, r)
		if !ok {
			return
		}
		code := form["user_code"]
		if !s.sessions.validScreen(v.sess, screenDevice, url.Values{"user_code": {code}}, form["auth_token"]) {
			s.forbidden(w, r, v)
			return
		}
		err := s.web.AnswerDevice(r.Context(), *v.user, code, approve)
		switch {
		case errors.Is(err, domain.ErrInvalidGrant):
			s.deviceRetry(w, r, v, "", msgBadCode)
			return
		case err != nil:
			s.renderPageError(w, r, v, err)
			return
		}
		m := message{Heading: "Device connected", Message: "The device now has access to your account. You can return to your device."}
		if !approve {
			m = message{Heading: "Request denied", Message: "The device was not given access. You can return to your device."}
		}
		s.renderMessage(w, r, http.StatusOK, v, m)
	}
}

// pageForm resolves the session of a page's POST and reads its bounded
// form body. When it returns false it has answered the request with an
// error page.
func (s *server) pageForm(w http.ResponseWriter, r *http.Request) (visitor, map[string]string, bool) {
	v, err := s.visit(r)
	if err != nil {
		s.renderPageError(w, r, v, err)
		return v, nil, false
	}
	form, err := readForm(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		s.renderPageError(w, r, v, err)
		return v, nil, false
	}
	return v, form, true
}

// deviceForm reads a device page's POST and checks it comes from a
// logged-in session with its CSRF token. When it returns false it has
// answered the request.
func (s *server) deviceForm(w http.ResponseWriter, r *http.Request) (visitor, map[string]string, bool) {
	v, form, ok := s.pageForm(w, r)
	if !ok {
		return v, nil, false
	}
	if v.user == nil || !v.sess.validCSRF(form["_token"]) {
		s.forbidden(w, r, v)
		return v, nil, false
	}
	return v, form, true
}

// deviceRetry shows the code form again, 422, with a message.
func (s *server) deviceRetry(w http.ResponseWriter, r *http.Request, v visitor, code, msg string) {
	s.render(w, r, http.StatusUnprocessableEntity, pageDevice, "Connect a device", v, deviceView{UserCode: prefill(code), Message: msg})
}

// prefill returns code to show in the form again, or "" when it is too
// long to be one.
func prefill(code string) string {
	if len([]rune(code)) > maxPrefill {
		return ""
	}
	return code
}
