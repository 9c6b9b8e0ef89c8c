package domain

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

// The Service's side of login and consent delegation (see challenge.go).
// A challenge is read from the log itself (Load on its aggregate), not
// from a read model: it lives minutes, is read a handful of times, and
// the log is the authority, so every instance of a cluster answers the
// same at once.

// RequestLogin opens a login challenge for p, a request Authorize
// validated, bound to the browser whose cookie hashes to browserHash. It
// returns the challenge to send the browser to the application with; its
// hash is recorded (LoginRequested).
func (s *Service) RequestLogin(ctx context.Context, p AuthorizePrompt, browserHash string) (string, error) {
	return s.requestChallenge(ctx, requestChallenge{Kind: ChallengeLogin, Prompt: p, BrowserHash: browserHash})
}

// RequestConsent opens a consent challenge for user on p, as
// RequestLogin does (ConsentRequested).
func (s *Service) RequestConsent(ctx context.Context, p AuthorizePrompt, user User, browserHash string) (string, error) {
	return s.requestChallenge(ctx, requestChallenge{Kind: ChallengeConsent, Prompt: p, Subject: user.ID, BrowserHash: browserHash})
}

func (s *Service) requestChallenge(ctx context.Context, cmd requestChallenge) (string, error) {
	cmd.TTL = s.cfg.ChallengeTTL
	o, err := decideRequestChallenge(noState{}, cmd, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return "", err
	}
	if _, err := s.record(ctx, ExpectNew, Actor{Kind: ActorClient, ID: cmd.Prompt.Client.ID}, o.Event); err != nil {
		return "", fmt.Errorf("domain: request %s: %w", cmd.Kind, err)
	}
	return o.Challenge, nil
}

// Challenge returns the pending challenge of kind (ChallengeLogin or
// ChallengeConsent) that challenge names, for the application to show.
// An unknown challenge, one of the other kind or an expired one is an
// error wrapping ErrNotFound.
func (s *Service) Challenge(ctx context.Context, kind, challenge string) (Challenge, error) {
	c, err := s.loadChallenge(ctx, challenge)
	if err != nil {
		return Challenge{}, err
	}
	if c.Kind != kind || !s.cfg.Now().Before(c.ExpiresAt) {
		return Challenge{}, fmt.Errorf("domain: %s challenge: %w", kind, ErrNotFound)
	}
	return c, nil
}

// loadChallenge folds the challenge's aggregate from the log; none is an
// error wrapping ErrNotFound.
func (s *Service) loadChallenge(ctx context.Context, challenge string) (Challenge, error) {
	if challenge == "" || len(challenge) > 256 {
		return Challenge{}, fmt.Errorf("domain: challenge: %w", ErrNotFound)
	}
	return load(ctx, s.ports.Log, Aggregate{KindChallenge, HashSecret(challenge)}, ApplyChallenge)
}

// AnswerChallenge records the application's answer (actor is the admin
// client) to the challenge of kind, and returns the challenge as
// answered. Errors: see decideChallengeAnswer (ErrNotFound,
// ErrChallengeAnswered, *ValidationError). Two answers at once: one
// wins, the other is ErrChallengeAnswered.
func (s *Service) AnswerChallenge(ctx context.Context, actor Actor, kind, challenge string, a ChallengeAnswer) (Challenge, error) {
	var out Challenge
	err := retry(ctx, func() error {
		st, err := s.loadChallengeState(ctx, challenge)
		if err != nil {
			return err
		}
		c := st.Challenge
		if st.Found && kind == ChallengeLogin && a.Accept && ValidID(a.Subject) && s.ports.Users != nil {
			u, err := lookupFresh(ctx, s, func(ctx context.Context) (User, error) { return s.ports.Users.User(ctx, a.Subject) })
			switch {
			case err == nil:
				st.SubjectFound = u.Exists()
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		if st.Found && kind == ChallengeConsent && a.Accept && s.ports.Clients != nil {
			cl, err := s.ports.Clients.Client(ctx, c.ClientID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			st.ClientAudiences = cl.Audiences
		}
		events, err := decideChallengeAnswer(st, answerChallenge{Kind: kind, Answer: a}, s.cfg.Now(), s.cfg.Random)
		if err != nil {
			return err
		}
		if _, err := s.record(ctx, ExpectSeq(c.Seq), actor, events...); err != nil {
			return err
		}
		for _, e := range events {
			out = ApplyChallenge(c, e, c.Seq+1, s.cfg.Now())
		}
		return nil
	})
	if errors.Is(err, ErrConflict) {
		return Challenge{}, ErrChallengeAnswered
	}
	return out, err
}

// LoginOutcome is what a browser's return with a login challenge leads
// to: the authorization request to go on with for User (Remember: start
// a session), or, when the application rejected the login, Location, the
// client's redirect URI with the error.
type LoginOutcome struct {
	Request  AuthorizeRequest
	User     User
	Remember bool
	Location string
}

// CompleteLogin uses up an answered login challenge the browser
// (browserHash) brought back (LoginCompleted). Errors: see
// decideChallengeReturn (ErrInvalidRequest, to show); a user deleted
// since the login is ErrAccessDenied, to show; a request no longer valid
// is Authorize's error.
func (s *Service) CompleteLogin(ctx context.Context, challenge, browserHash string) (LoginOutcome, error) {
	c, err := s.completeChallenge(ctx, ChallengeLogin, challenge, browserHash)
	if err != nil {
		return LoginOutcome{}, err
	}
	req := c.AuthorizeRequest()
	if c.Answer == ChallengeRejected {
		loc, err := s.rejectionLocation(ctx, c, req)
		return LoginOutcome{Location: loc}, err
	}
	u, err := s.ports.Users.User(ctx, c.Subject)
	if err != nil || !u.Exists() {
		return LoginOutcome{}, ErrAccessDenied.WithDescription("the user logged in is gone; start again from the application")
	}
	return LoginOutcome{Request: req, User: u, Remember: c.Remember}, nil
}

// loadChallengeState loads what a decision on challenge decides on: the
// challenge, Found when the log has it (an unknown one is no error).
func (s *Service) loadChallengeState(ctx context.Context, challenge string) (challengeState, error) {
	c, err := s.loadChallenge(ctx, challenge)
	switch {
	case err == nil:
		return challengeState{Challenge: c, Found: true}, nil
	case errors.Is(err, ErrNotFound):
		return challengeState{}, nil
	}
	return challengeState{}, err
}

// completeChallenge loads the challenge, decides the return and records
// it (ExpectSeq: a challenge is used once, on any instance).
func (s *Service) completeChallenge(ctx context.Context, kind, challenge, browserHash string) (Challenge, error) {
	st, err := s.loadChallengeState(ctx, challenge)
	if err != nil {
		return Challenge{}, err
	}
	c := st.Challenge
	e, err := decideChallengeReturn(st, returnChallenge{Kind: kind, BrowserHash: browserHash}, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return Challenge{}, err
	}
	actor := Actor{Kind: ActorClient, ID: c.ClientID}
	if c.Subject != "" {
		actor = Actor{Kind: ActorUser, ID: c.Subject}
	}
	_, err = s.record(ctx, ExpectSeq(c.Seq), actor, e)
	if errors.Is(err, ErrConflict) {
		return Challenge{}, ErrInvalidRequest.WithDescription("the %s challenge was used already; start again from the application", kind)
	}
	if err != nil {
		return Challenge{}, err
	}
	return c, nil
}

// rejectionLocation returns the client's redirect URI carrying the error
// a challenge was rejected with.
func (s *Service) rejectionLocation(ctx context.Context, c Challenge, req AuthorizeRequest) (string, error) {
	p, err := s.Authorize(ctx, req, nil)
	if err != nil {
		return "", err
	}
	re := &RedirectError{Err: &OAuthError{Code: c.Error, Description: c.ErrorDescription}, URL: p.RedirectURI, State: req.State,
		Fragment: req.ResponseType == "token"}
	return re.Location(s.cfg.Issuer), nil
}

// CompleteConsent uses up an answered consent challenge the browser
// (browserHash) brought back, and returns where to send it: the client's
// redirect URI with a code (or, for response_type=token, a token) for
// the granted scopes and audiences, whose access token carries the
// consent's extra claims under "ext"; with the error when the consent
// was rejected. A remembered consent also records ClientAuthorized, so
// a later request within it skips the consent. The return and the grant
// are one atomic append. Errors: as CompleteLogin.
func (s *Service) CompleteConsent(ctx context.Context, challenge, browserHash string) (string, error) {
	st := challengeState{}
	c, err := s.loadChallenge(ctx, challenge)
	switch {
	case err == nil:
		st.Challenge, st.Found = c, true
	case !errors.Is(err, ErrNotFound):
		return "", err
	}
	done, err := decideChallengeReturn(st, returnChallenge{Kind: ChallengeConsent, BrowserHash: browserHash}, s.cfg.Now(), s.cfg.Random)
	if err != nil {
		return "", err
	}
	req := c.AuthorizeRequest()
	actor := Actor{Kind: ActorUser, ID: c.Subject}
	used := func(err error) error {
		if errors.Is(err, ErrConflict) {
			return ErrInvalidRequest.WithDescription("the consent challenge was used already; start again from the application")
		}
		return err
	}
	if c.Answer == ChallengeRejected {
		if _, err := s.record(ctx, ExpectSeq(c.Seq), actor, done); err != nil {
			return "", used(err)
		}
		return s.rejectionLocation(ctx, c, req)
	}
	u, err := s.ports.Users.User(ctx, c.Subject)
	if err != nil || !u.Exists() {
		return "", ErrAccessDenied.WithDescription("the user is gone; start again from the application")
	}
	p, err := s.Authorize(ctx, req, &u)
	if err != nil {
		return "", err
	}
	resources := c.GrantedAudiences
	if len(resources) == 0 {
		resources = p.Resources
	}
	events := []Event{done}
	if c.Remember {
		if consent := s.consentEvent(ctx, u.ID, p.Client.ID, c.GrantedScopes); consent != nil {
			events = append(events, consent)
		}
	}
	if req.ResponseType == "token" {
		resp, tokens, err := s.tokenSetFor(p.Client, u.ID, GrantImplicit, c.GrantedScopes, resources, s.cfg.AccessToken, false)
		if err != nil {
			return "", err
		}
		if _, err := s.record(ctx, ExpectSeq(c.Seq), actor, append(events, tokens...)...); err != nil {
			return "", used(err)
		}
		return implicitRedirect(p.RedirectURI, req.State, resp), nil
	}
	code, err := NewSecret(s.cfg.Random)
	if err != nil {
		return "", err
	}
	now := s.cfg.Now().UTC()
	issued := AuthCodeIssued{CodeID: DerivedID("consent\x00"+c.ID, "code"), CodeHash: HashSecret(code), ClientID: p.Client.ID, UserID: u.ID,
		RedirectURI: p.RedirectURI, Scopes: c.GrantedScopes, IssuedAt: now, ExpiresAt: now.Add(s.cfg.AuthCode), Resources: resources,
		RedirectURIGiven: req.RedirectURI != "", Ext: c.Ext}
	if req.CodeChallenge != "" {
		issued.ChallengeMethod = req.CodeChallengeMethod
		if issued.ChallengeS256, err = challengeS256(req.CodeChallenge, req.CodeChallengeMethod); err != nil {
			return "", err
		}
	}
	if _, err := s.record(ctx, ExpectSeq(c.Seq), actor, append(events, issued)...); err != nil {
		return "", used(err)
	}
	v := url.Values{"code": {code}, "iss": {s.cfg.Issuer}}
	if req.State != "" {
		v.Set("state", req.State)
	}
	return appendParams(p.RedirectURI, v, false), nil
}
