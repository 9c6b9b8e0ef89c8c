package httpapi

import (
	"context"
	"fmt"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// testPassword is every fake account's password.
const testPassword = "correct horse battery staple"

// testUser is the account the browser tests log in as.
var testUser = domain.User{ID: "user-1", Email: "ada@example.com", Name: "Ada"}

// fakeUsers is a hand-written Users over a map; err, when set, is every
// lookup's answer.
type fakeUsers struct {
	byID map[string]domain.User
	err  error
}

func newFakeUsers(users ...domain.User) *fakeUsers {
	f := &fakeUsers{byID: map[string]domain.User{}}
	for _, u := range users {
		f.byID[u.ID] = u
	}
	return f
}

func (f *fakeUsers) User(_ context.Context, id string) (domain.User, error) {
	if f.err != nil {
		return domain.User{}, f.err
	}
	u, ok := f.byID[id]
	if !ok {
		return domain.User{}, fmt.Errorf("fake: user %q: %w", id, domain.ErrNotFound)
	}
	return u, nil
}

// deviceDecision is one recorded AnswerDevice call.
type deviceDecision struct {
	UserID, UserCode string
	Approve          bool
}

// fakeWeb is a hand-written Web. It answers with its canned values and
// records what each call received. The browser tests run the handler in
// the test's goroutine, so it needs no lock.
type fakeWeb struct {
	// AuthenticateUser: the accounts by email (password testPassword),
	// or rateLimited.
	accounts    map[string]domain.User
	rateLimited bool
	busy        bool // no free password hashing slot
	logins      int
	remotes     []string

	// Authorize answers prompt (its Request set to the request) or
	// authorizeErr; Approve and Deny answer approveLoc and denyLoc, or
	// decideErr.
	prompt       domain.AuthorizePrompt
	authorizeErr error
	approveLoc   string
	denyLoc      string
	decideErr    error
	authorizeReq []domain.AuthorizeRequest
	authorizeAs  []*domain.User
	approved     []domain.AuthorizeRequest
	denied       []domain.AuthorizeRequest
	decidedBy    []string

	// Device flow: DeviceAuthorize answers deviceAuth or deviceErr;
	// LookupUserCode and AnswerDevice know the one code userCode.
	deviceAuth     domain.DeviceAuthorization
	deviceErr      error
	deviceCred     domain.ClientCredentials
	deviceScope    string
	userCode       string // normalized
	devicePrompt   domain.DevicePrompt
	lookupErr      error
	decideDevErr   error
	lookups        []string
	lookupsBy      []string // "user-id address" of each lookup
	deviceDecision []deviceDecision

	// Sessions: the ended sessions by id, their users and expiries as
	// EndSession got them; sessionErr, when set, is the answer of both.
	ended      map[string]endedSession
	sessionErr error
}

func (f *fakeWeb) AuthenticateUser(_ context.Context, email, password, remote string) (domain.User, error) {
	f.logins++
	f.remotes = append(f.remotes, remote)
	if f.rateLimited {
		return domain.User{}, &domain.RetryError{Err: domain.ErrRateLimited, After: 90 * time.Second}
	}
	if f.busy {
		return domain.User{}, &domain.RetryError{Err: domain.ErrTemporarilyUnavailable.WithDescription("busy"), After: time.Second}
	}
	u, ok := f.accounts[domain.NormalizeEmail(email)]
	if !ok || password != testPassword {
		return domain.User{}, domain.ErrAccessDenied.WithDescription("the email or password is wrong")
	}
	return u, nil
}

func (f *fakeWeb) Authorize(_ context.Context, req domain.AuthorizeRequest, user *domain.User) (domain.AuthorizePrompt, error) {
	f.authorizeReq = append(f.authorizeReq, req)
	f.authorizeAs = append(f.authorizeAs, user)
	if f.authorizeErr != nil {
		return domain.AuthorizePrompt{}, f.authorizeErr
	}
	p := f.prompt
	p.Request = req
	return p, nil
}

func (f *fakeWeb) Approve(_ context.Context, req domain.AuthorizeRequest, user domain.User) (string, error) {
	f.approved = append(f.approved, req)
	f.decidedBy = append(f.decidedBy, user.ID)
	return f.approveLoc, f.decideErr
}

func (f *fakeWeb) Deny(_ context.Context, req domain.AuthorizeRequest, user domain.User) (string, error) {
	f.denied = append(f.denied, req)
	f.decidedBy = append(f.decidedBy, user.ID)
	return f.denyLoc, f.decideErr
}

func (f *fakeWeb) DeviceAuthorize(_ context.Context, cred domain.ClientCredentials, scope string) (domain.DeviceAuthorization, error) {
	f.deviceCred, f.deviceScope = cred, scope
	return f.deviceAuth, f.deviceErr
}

func (f *fakeWeb) LookupUserCode(_ context.Context, user domain.User, userCode, remote string) (domain.DevicePrompt, error) {
	f.lookups = append(f.lookups, userCode)
	f.lookupsBy = append(f.lookupsBy, user.ID+" "+remote)
	if f.lookupErr != nil {
		return domain.DevicePrompt{}, f.lookupErr
	}
	if domain.NormalizeUserCode(userCode) != f.userCode {
		return domain.DevicePrompt{}, domain.ErrInvalidGrant.WithDescription("the code is unknown, used or expired")
	}
	return f.devicePrompt, nil
}

func (f *fakeWeb) AnswerDevice(_ context.Context, user domain.User, userCode string, approve bool) error {
	f.deviceDecision = append(f.deviceDecision, deviceDecision{user.ID, userCode, approve})
	if f.decideDevErr != nil {
		return f.decideDevErr
	}
	if domain.NormalizeUserCode(userCode) != f.userCode {
		return domain.ErrInvalidGrant.WithDescription("the code is unknown, used or expired")
	}
	return nil
}

// endedSession is one EndSession call of a fakeWeb.
type endedSession struct {
	UserID  string
	Expires time.Time
}

func (f *fakeWeb) EndSession(_ context.Context, sessionID, userID string, expiresAt time.Time) error {
	if f.sessionErr != nil {
		return f.sessionErr
	}
	if f.ended == nil {
		f.ended = map[string]endedSession{}
	}
	f.ended[sessionID] = endedSession{userID, expiresAt}
	return nil
}

func (f *fakeWeb) CheckSession(_ context.Context, sessionID string) error {
	if f.sessionErr != nil {
		return f.sessionErr
	}
	if _, ok := f.ended[sessionID]; ok {
		return domain.ErrSessionEnded
	}
	return nil
}
