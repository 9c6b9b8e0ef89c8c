package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/stamp-oauth/stamp/domain"
)

// pathDevTokens mints tokens in development mode only (see DevMinter).
const pathDevTokens = "/dev/tokens"

// DevMinter mints tokens without credentials for `stamp serve --dev`
// (*domain.Service satisfies it). Deps.Dev is nil on every other server,
// and then POST /dev/tokens does not exist (404).
type DevMinter interface {
	MintDevToken(ctx context.Context, req domain.DevTokenRequest) (domain.TokenResponse, error)
}

// devTokenBody is the body of POST /dev/tokens, as JSON or a form: scopes
// is a space- or comma-separated string (or a JSON array), audience one
// URI or several (a JSON array, or the form field repeated), expires_in
// seconds.
type devTokenBody struct {
	Sub       string     `json:"sub"`
	ClientID  string     `json:"client_id"`
	Scopes    stringList `json:"scopes"`
	Audience  stringList `json:"audience"`
	ExpiresIn *int64     `json:"expires_in"`
}

func (b *devTokenBody) bindForm(v url.Values) error {
	b.Sub, b.ClientID = v.Get("sub"), v.Get("client_id")
	b.Scopes = append(formList(v, "scopes"), formList(v, "scope")...)
	b.Audience = formList(v, "audience")
	if s := v.Get("expires_in"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return domain.ErrInvalidRequest.WithDescription("expires_in must be a whole number of seconds")
		}
		b.ExpiresIn = &n
	}
	return nil
}

// devToken answers POST /dev/tokens with a token response (RFC 6749
// §5.1), or an RFC 6749 §5.2 error: 400 for anything wrong with the
// request.
func (s *server) devToken(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var body devTokenBody
	if err := readBody(w, r, s.opts.MaxBodyBytes, &body); err != nil {
		if ae, ok := errors.AsType[*apiError](err); ok {
			writeJSON(w, ae.status, errorBody{Error: domain.ErrInvalidRequest.Code, Description: ae.message})
			return
		}
		if v, ok := domain.AsValidation(err); ok {
			err = domain.ErrInvalidRequest.WithDescription("%s %s", v.Field, v.Message)
		}
		s.renderError(w, r, err)
		return
	}
	req := domain.DevTokenRequest{ClientID: strings.TrimSpace(body.ClientID), Subject: strings.TrimSpace(body.Sub)}
	for _, sc := range body.Scopes {
		req.Scopes = append(req.Scopes, strings.FieldsFunc(sc, func(c rune) bool { return c == ' ' || c == ',' })...)
	}
	for _, a := range body.Audience {
		req.Audience = append(req.Audience, strings.Fields(a)...)
	}
	if body.ExpiresIn != nil {
		if *body.ExpiresIn <= 0 || *body.ExpiresIn > int64(domain.MaxDevTokenLifetime/time.Second) {
			s.renderError(w, r, domain.ErrInvalidRequest.WithDescription("expires_in must be 1 to %d seconds", int64(domain.MaxDevTokenLifetime/time.Second)))
			return
		}
		req.TTL = time.Duration(*body.ExpiresIn) * time.Second
	}
	resp, err := s.dev.MintDevToken(r.Context(), req)
	if err != nil {
		if v, ok := domain.AsValidation(err); ok {
			err = domain.ErrInvalidRequest.WithDescription("%s %s", v.Field, v.Message)
		}
		s.renderError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}
