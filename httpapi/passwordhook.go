package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// DefaultPasswordHookTimeout bounds one password check when
// PasswordHookOptions.Timeout is 0.
const DefaultPasswordHookTimeout = 2 * time.Second

// MinPasswordHookSecret is the shortest signing secret of the password
// hook, as of the webhooks.
const MinPasswordHookSecret = 16

// HeaderSignature is the header a password hook request is signed in
// (domain.SignPayload's scheme, the webhooks' too).
const HeaderSignature = "X-Stamp-Signature"

// maxHookAnswer bounds the body of a password hook's answer.
const maxHookAnswer = 64 << 10

// PasswordHookOptions configure a PasswordHook.
type PasswordHookOptions struct {
	// URL is where the checks are POSTed: an absolute http(s) URL.
	URL string
	// Secret keys the signature; at least MinPasswordHookSecret bytes.
	Secret []byte
	// Timeout bounds one check, connection included; 0 means
	// DefaultPasswordHookTimeout.
	Timeout time.Duration
	// Client sends the requests; nil means a client of its own. Redirects
	// are never followed: an answer of 3xx fails the check.
	Client *http.Client
	// Now stamps signatures; nil means time.Now.
	Now func() time.Time
}

// PasswordHook asks the application whether a username and password are
// right (domain.PasswordHook): it POSTs {"username", "password"} as JSON,
// signed in X-Stamp-Signature, to the configured URL. The application
// answers 200 {"subject", "email"?, "name"?} for a right pair and 401 for
// a wrong one. Anything else (another status, a body that is not such a
// document, a subject that is not a valid id, a timeout, a network error)
// is an error that is not domain.ErrAccessDenied: the check fails closed.
// Safe for concurrent use.
type PasswordHook struct {
	url     string
	secret  []byte
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
}

// NewPasswordHook returns a PasswordHook, or an error naming the bad
// option.
func NewPasswordHook(o PasswordHookOptions) (*PasswordHook, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("httpapi: password hook url %q is not an absolute http(s) URL", o.URL)
	}
	if len(o.Secret) < MinPasswordHookSecret {
		return nil, fmt.Errorf("httpapi: the password hook secret must be at least %d bytes", MinPasswordHookSecret)
	}
	switch {
	case o.Timeout < 0:
		return nil, fmt.Errorf("httpapi: password hook timeout %v is negative", o.Timeout)
	case o.Timeout == 0:
		o.Timeout = DefaultPasswordHookTimeout
	}
	client := o.Client
	if client == nil {
		client = &http.Client{}
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if o.Now == nil {
		o.Now = time.Now
	}
	return &PasswordHook{url: o.URL, secret: o.Secret, timeout: o.Timeout, client: &c, now: o.Now}, nil
}

// errHookAnswer is wrapped by the errors of an answer the hook may not
// give.
var errHookAnswer = errors.New("httpapi: password hook: unexpected answer")

// CheckPassword implements domain.PasswordHook.
func (h *PasswordHook) CheckPassword(ctx context.Context, username, password string) (domain.HookLogin, error) {
	body, err := json.Marshal(struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}{username, password})
	if err != nil {
		return domain.HookLogin{}, fmt.Errorf("httpapi: password hook: encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return domain.HookLogin{}, fmt.Errorf("httpapi: password hook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(HeaderSignature, domain.SignPayload(h.secret, h.now(), body))
	resp, err := h.client.Do(req)
	if err != nil {
		return domain.HookLogin{}, fmt.Errorf("httpapi: password hook: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxHookAnswer+1))
	if err != nil {
		return domain.HookLogin{}, fmt.Errorf("httpapi: password hook: read the answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return domain.HookLogin{}, domain.ErrAccessDenied.WithDescription("the password hook refused the credentials")
	default:
		return domain.HookLogin{}, fmt.Errorf("%w: status %d", errHookAnswer, resp.StatusCode)
	}
	if len(answer) > maxHookAnswer {
		return domain.HookLogin{}, fmt.Errorf("%w: an answer over %d bytes", errHookAnswer, maxHookAnswer)
	}
	var login domain.HookLogin
	if err := json.Unmarshal(answer, &login); err != nil {
		return domain.HookLogin{}, fmt.Errorf("%w: %v", errHookAnswer, err)
	}
	if !domain.ValidID(login.Subject) {
		return domain.HookLogin{}, fmt.Errorf("%w: the subject %q is not a valid id", errHookAnswer, login.Subject)
	}
	return login, nil
}
