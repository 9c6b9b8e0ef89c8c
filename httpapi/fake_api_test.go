package httpapi

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// The real service must keep satisfying the JSON API's ports.
var (
	_ API       = (*domain.Service)(nil)
	_ Validator = (*domain.Service)(nil)
)

// fakeTokens is a hand-written Validator over the tokens it was given:
// an unknown, revoked or expired token is domain.ErrInvalidToken; err,
// when set, is every answer.
type fakeTokens struct {
	mu    sync.Mutex
	byRaw map[string]domain.AccessToken
	err   error
	calls int
}

func newFakeTokens() *fakeTokens { return &fakeTokens{byRaw: map[string]domain.AccessToken{}} }

// add makes raw a token with t's state, expiring an hour after testNow
// unless t says otherwise.
func (f *fakeTokens) add(raw string, t domain.AccessToken) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.ExpiresAt.IsZero() {
		t.ExpiresAt = testNow.Add(time.Hour)
	}
	f.byRaw[raw] = t
}

func (f *fakeTokens) ValidateAccessToken(_ context.Context, raw string) (domain.AccessToken, domain.Claims, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return domain.AccessToken{}, domain.Claims{}, f.err
	}
	t, ok := f.byRaw[raw]
	if !ok || !t.Active(testNow) {
		return domain.AccessToken{}, domain.Claims{}, fmt.Errorf("fake: %w", domain.ErrInvalidToken)
	}
	return t, domain.Claims{ID: t.ID, Audience: domain.Audience(t.Audience)}, nil
}

// revoke marks raw revoked and reports whether it was live.
func (f *fakeTokens) revoke(raw string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.byRaw[raw]
	if !ok || t.Revoked {
		return false
	}
	t.Revoked, t.RevokedAt = true, testNow
	f.byRaw[raw] = t
	return true
}

// fakeAPI is a hand-written API: clients and token lists in memory, the
// cookie tokens in tokens, and a record of every change. err, when set,
// is every answer.
type fakeAPI struct {
	tokens *fakeTokens

	mu         sync.Mutex
	clients    []domain.Client
	authorized []domain.UserToken
	personal   []domain.UserToken
	err        error
	issueErr   error // IssueSessionToken's answer when set
	n          int

	registered []domain.RegisterClient
	updated    []domain.UpdateClient
	deletedIDs []string
	revoked    []string // RevokeUserToken jtis
	issued     []string // raw cookie tokens issued
	refreshed  []string // raw cookie tokens refreshed
	ended      []string // raw cookie tokens ended
	patNames   []string
	patScopes  [][]string
}

func newFakeAPI(tokens *fakeTokens) *fakeAPI { return &fakeAPI{tokens: tokens} }

func (f *fakeAPI) ClientsOf(_ context.Context, userID string) ([]domain.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []domain.Client{}
	for _, c := range f.clients {
		if c.Exists() && c.UserID == userID {
			out = append(out, c)
		}
	}
	return out, f.err
}

// validateFake applies the domain's field rules the handlers rely on.
func validateFake(name string, uris []string) error {
	if name == "" {
		return &domain.ValidationError{Field: "name", Message: "is required"}
	}
	if len(uris) == 0 {
		return &domain.ValidationError{Field: "redirect_uris", Message: "a redirect URI is required"}
	}
	return nil
}

func (f *fakeAPI) RegisterClient(_ context.Context, _ domain.Actor, cmd domain.RegisterClient) (domain.Client, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.registered = append(f.registered, cmd)
	if f.err != nil {
		return domain.Client{}, "", f.err
	}
	if err := validateFake(cmd.Name, cmd.RedirectURIs); err != nil {
		return domain.Client{}, "", err
	}
	f.n++
	c := domain.Client{
		ID: fmt.Sprintf("client-%d", f.n), Name: cmd.Name, Grants: cmd.Grants, RedirectURIs: cmd.RedirectURIs,
		UserID: cmd.UserID, CreatedAt: testNow, UpdatedAt: testNow,
	}
	var secret string
	if !cmd.Public {
		secret, c.SecretHash = fmt.Sprintf("secret-%d", f.n), "hash-of-secret"
	}
	f.clients = append(f.clients, c)
	return c, secret, nil
}

// owned returns the index of the live client id that userID owns, or -1.
func (f *fakeAPI) owned(id, userID string) int {
	return slices.IndexFunc(f.clients, func(c domain.Client) bool {
		return c.ID == id && c.Exists() && c.UserID == userID
	})
}

func (f *fakeAPI) UpdateClient(_ context.Context, _ domain.Actor, cmd domain.UpdateClient) (domain.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updated = append(f.updated, cmd)
	if f.err != nil {
		return domain.Client{}, f.err
	}
	i := f.owned(cmd.ClientID, cmd.UserID)
	if i < 0 {
		return domain.Client{}, fmt.Errorf("fake: client %q: %w", cmd.ClientID, domain.ErrNotFound)
	}
	if err := validateFake(cmd.Name, cmd.RedirectURIs); err != nil {
		return domain.Client{}, err
	}
	c := &f.clients[i]
	c.Name, c.RedirectURIs, c.Scopes, c.UpdatedAt = cmd.Name, cmd.RedirectURIs, cmd.Scopes, testNow.Add(time.Minute)
	return *c, nil
}

func (f *fakeAPI) DeleteClient(_ context.Context, _ domain.Actor, clientID, userID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	i := f.owned(clientID, userID)
	if i < 0 {
		return fmt.Errorf("fake: client %q: %w", clientID, domain.ErrNotFound)
	}
	f.clients[i].Deleted = true
	f.deletedIDs = append(f.deletedIDs, clientID)
	return nil
}

func ofUser(list []domain.UserToken, userID string) []domain.UserToken {
	out := []domain.UserToken{}
	for _, t := range list {
		if t.Token.UserID == userID && !t.Token.Revoked {
			out = append(out, t)
		}
	}
	return out
}

func (f *fakeAPI) AuthorizedTokens(_ context.Context, userID string) ([]domain.UserToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ofUser(f.authorized, userID), f.err
}

func (f *fakeAPI) PersonalAccessTokens(_ context.Context, userID string) ([]domain.UserToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ofUser(f.personal, userID), f.err
}

func (f *fakeAPI) CreatePersonalAccessToken(_ context.Context, _ domain.Actor, userID, name string, scopes []string) (domain.PersonalAccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.patNames, f.patScopes = append(f.patNames, name), append(f.patScopes, scopes)
	switch {
	case f.err != nil:
		return domain.PersonalAccessToken{}, f.err
	case name == "":
		return domain.PersonalAccessToken{}, &domain.ValidationError{Field: "name", Message: "is required and at most 255 characters"}
	case slices.Contains(scopes, "unknown"):
		return domain.PersonalAccessToken{}, &domain.ValidationError{Field: "scopes", Message: `the scope "unknown" is unknown`}
	}
	f.n++
	t := domain.AccessToken{
		ID: fmt.Sprintf("pat-%d", f.n), ClientID: "personal-client", UserID: userID, Scopes: scopes,
		GrantType: domain.GrantPersonalAccess, Name: name, IssuedAt: testNow, ExpiresAt: testNow.AddDate(1, 0, 0),
	}
	return domain.PersonalAccessToken{AccessToken: "raw-" + t.ID, Token: t}, nil
}

func (f *fakeAPI) RevokeUserToken(_ context.Context, userID, jti string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	for _, list := range [][]domain.UserToken{f.authorized, f.personal} {
		for i := range list {
			if t := &list[i].Token; t.ID == jti && t.UserID == userID && !t.Revoked {
				t.Revoked = true
				f.revoked = append(f.revoked, jti)
				return nil
			}
		}
	}
	return fmt.Errorf("fake: token %q: %w", jti, domain.ErrNotFound)
}

func (f *fakeAPI) IssueSessionToken(_ context.Context, userID string) (string, domain.AccessToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.issueErr != nil {
		return "", domain.AccessToken{}, f.issueErr
	}
	f.n++
	raw := fmt.Sprintf("cookie-token-%d", f.n)
	t := domain.AccessToken{
		ID: fmt.Sprintf("session-%d", f.n), ClientID: "personal-client", UserID: userID,
		Scopes: []string{domain.WildcardScope}, GrantType: domain.GrantSession, Name: "session",
		IssuedAt: testNow, ExpiresAt: testNow.Add(domain.SessionTokenLifetime),
	}
	f.tokens.add(raw, t)
	f.issued = append(f.issued, raw)
	return raw, t, nil
}

func (f *fakeAPI) RefreshSessionToken(ctx context.Context, raw string) (string, domain.AccessToken, error) {
	t, _, err := f.tokens.ValidateAccessToken(ctx, raw)
	if err != nil {
		return "", domain.AccessToken{}, err
	}
	if t.GrantType != domain.GrantSession {
		return "", domain.AccessToken{}, fmt.Errorf("%w: not a session token", domain.ErrInvalidToken)
	}
	next, nt, err := f.IssueSessionToken(ctx, t.UserID)
	if err != nil {
		return "", domain.AccessToken{}, err
	}
	f.tokens.revoke(raw)
	f.mu.Lock()
	f.refreshed = append(f.refreshed, raw)
	f.mu.Unlock()
	return next, nt, nil
}

func (f *fakeAPI) EndSessionToken(_ context.Context, raw string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.ended = append(f.ended, raw)
	f.tokens.revoke(raw)
	return nil
}
