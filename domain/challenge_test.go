package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// goldenChallengeEvents are the golden samples of the delegation events.
func goldenChallengeEvents(at time.Time) []Event {
	id := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	browser := "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
	req := map[string]string{"response_type": "code", "client_id": "c-1", "redirect_uri": "https://app.example/cb", "scope": "read", "state": "xyz"}
	return []Event{
		LoginRequested{ChallengeID: id, ClientID: "c-1", Request: req, Scopes: []string{"read"}, BrowserHash: browser, RequestedAt: at, ExpiresAt: at.Add(ChallengeLifetime)},
		LoginAccepted{ChallengeID: id, ClientID: "c-1", Subject: "u-1", Remember: true, ACR: "urn:app:password"},
		LoginRejected{ChallengeID: id, ClientID: "c-1", Error: "access_denied", ErrorDescription: "no"},
		LoginCompleted{ChallengeID: id, ClientID: "c-1"},
		ConsentRequested{ChallengeID: id, ClientID: "c-1", Subject: "u-1", Request: req, Scopes: []string{"read", "write"}, Audiences: []string{"https://api.example"}, BrowserHash: browser, RequestedAt: at, ExpiresAt: at.Add(ChallengeLifetime)},
		ConsentAccepted{ChallengeID: id, ClientID: "c-1", Subject: "u-1", Scopes: []string{"read"}, Audiences: []string{"https://api.example"}, Remember: true, Ext: json.RawMessage(`{"tenant":"t-1"}`)},
		ConsentRejected{ChallengeID: id, ClientID: "c-1", Error: "access_denied"},
		ConsentCompleted{ChallengeID: id, ClientID: "c-1"},
	}
}

var challengeNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const testBrowser = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"

func TestDecideRequestChallenge(t *testing.T) {
	p := AuthorizePrompt{
		Request: AuthorizeRequest{ResponseType: "code", ClientID: "c-1", Scope: "read", State: "s",
			CodeChallenge: strings.Repeat("a", 43), CodeChallengeMethod: PKCEPlain},
		Client: Client{ID: "c-1"}, Scopes: []Scope{{ID: "read"}},
	}
	for _, tc := range []struct {
		name    string
		cmd     requestChallenge
		wantErr string
	}{
		{"login", requestChallenge{Kind: ChallengeLogin, Prompt: p, BrowserHash: testBrowser}, ""},
		{"consent", requestChallenge{Kind: ChallengeConsent, Prompt: p, Subject: "u-1", BrowserHash: testBrowser}, ""},
		{"no browser", requestChallenge{Kind: ChallengeLogin, Prompt: p}, "browser"},
		{"consent without user", requestChallenge{Kind: ChallengeConsent, Prompt: p, BrowserHash: testBrowser}, "subject"},
		{"bad kind", requestChallenge{Kind: "other", Prompt: p, BrowserHash: testBrowser}, "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := decideRequestChallenge(noState{}, tc.cmd, challengeNow, bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
			if tc.wantErr != "" {
				if v, ok := AsValidation(err); !ok || v.Field != tc.wantErr {
					t.Fatalf("got %v; want a ValidationError on %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := ApplyChallenge(Challenge{}, o.Event, 1, challengeNow)
			if c.ID != HashSecret(o.Challenge) || c.Kind != tc.cmd.Kind || c.BrowserHash != testBrowser {
				t.Errorf("got %+v; want the challenge's hash, kind and browser", c)
			}
			if !c.ExpiresAt.Equal(challengeNow.Add(ChallengeLifetime)) {
				t.Errorf("expires %v; want %v", c.ExpiresAt, challengeNow.Add(ChallengeLifetime))
			}
			b, _ := json.Marshal(o.Event)
			if strings.Contains(string(b), o.Challenge) || strings.Contains(string(b), p.Request.CodeChallenge) {
				t.Errorf("the event %s holds the challenge or the plain PKCE challenge", b)
			}
			got := c.AuthorizeRequest()
			if got.CodeChallengeMethod != PKCES256 || got.CodeChallenge != s256(p.Request.CodeChallenge) || got.State != "s" {
				t.Errorf("request: got %+v; want the plain PKCE challenge in S256 form and the state", got)
			}
		})
	}
}

func TestDecideChallengeAnswer(t *testing.T) {
	login := Challenge{ID: "h", Kind: ChallengeLogin, ClientID: "c-1", Scopes: []string{"read", "write"}, BrowserHash: testBrowser,
		ExpiresAt: challengeNow.Add(time.Minute), Seq: 3}
	consent := login
	consent.Kind, consent.Subject, consent.Audiences = ChallengeConsent, "u-1", []string{"https://a.example"}
	answered := login
	answered.Answer = ChallengeAccepted
	expired := login
	expired.ExpiresAt = challengeNow
	for _, tc := range []struct {
		name      string
		st        challengeState
		cmd       answerChallenge
		want      []Event
		wantErr   error
		wantField string
	}{
		{"accept login", challengeState{Challenge: login, Found: true, SubjectFound: true},
			answerChallenge{ChallengeLogin, ChallengeAnswer{Accept: true, Subject: "u-1", Remember: true, ACR: "pwd"}},
			[]Event{LoginAccepted{ChallengeID: "h", ClientID: "c-1", Subject: "u-1", Remember: true, ACR: "pwd"}}, nil, ""},
		{"unknown subject", challengeState{Challenge: login, Found: true},
			answerChallenge{ChallengeLogin, ChallengeAnswer{Accept: true, Subject: "u-9"}}, nil, nil, "subject"},
		{"unknown challenge", challengeState{},
			answerChallenge{ChallengeLogin, ChallengeAnswer{Accept: true, Subject: "u-1"}}, nil, ErrNotFound, ""},
		{"other kind", challengeState{Challenge: consent, Found: true},
			answerChallenge{ChallengeLogin, ChallengeAnswer{Accept: true, Subject: "u-1"}}, nil, ErrNotFound, ""},
		{"expired", challengeState{Challenge: expired, Found: true, SubjectFound: true},
			answerChallenge{ChallengeLogin, ChallengeAnswer{Accept: true, Subject: "u-1"}}, nil, ErrNotFound, ""},
		{"answered", challengeState{Challenge: answered, Found: true, SubjectFound: true},
			answerChallenge{ChallengeLogin, ChallengeAnswer{Accept: true, Subject: "u-1"}}, nil, ErrChallengeAnswered, ""},
		{"reject login by default access_denied", challengeState{Challenge: login, Found: true},
			answerChallenge{ChallengeLogin, ChallengeAnswer{Description: "no"}},
			[]Event{LoginRejected{ChallengeID: "h", ClientID: "c-1", Error: "access_denied", ErrorDescription: "no"}}, nil, ""},
		{"reject with an unknown error", challengeState{Challenge: login, Found: true},
			answerChallenge{ChallengeLogin, ChallengeAnswer{Error: "nope"}}, nil, nil, "error"},
		{"accept consent", challengeState{Challenge: consent, Found: true},
			answerChallenge{ChallengeConsent, ChallengeAnswer{Accept: true, Scopes: []string{"write", "read", "read"}, Audiences: []string{"https://a.example"}, Ext: json.RawMessage(`{ "tenant": "t-1" }`)}},
			[]Event{ConsentAccepted{ChallengeID: "h", ClientID: "c-1", Subject: "u-1", Scopes: []string{"read", "write"}, Audiences: []string{"https://a.example"}, Ext: json.RawMessage(`{"tenant":"t-1"}`)}}, nil, ""},
		{"consent grants more than requested", challengeState{Challenge: consent, Found: true},
			answerChallenge{ChallengeConsent, ChallengeAnswer{Accept: true, Scopes: []string{"read", "admin"}}}, nil, nil, "grant_scope"},
		{"consent grants another audience", challengeState{Challenge: consent, Found: true, ClientAudiences: []string{"https://b.example"}},
			answerChallenge{ChallengeConsent, ChallengeAnswer{Accept: true, Audiences: []string{"https://b.example"}}}, nil, nil, "grant_access_token_audience"},
		{"ext overrides sub", challengeState{Challenge: consent, Found: true},
			answerChallenge{ChallengeConsent, ChallengeAnswer{Accept: true, Ext: json.RawMessage(`{"sub":"admin"}`)}}, nil, nil, "session.access_token"},
		{"ext not an object", challengeState{Challenge: consent, Found: true},
			answerChallenge{ChallengeConsent, ChallengeAnswer{Accept: true, Ext: json.RawMessage(`[1]`)}}, nil, nil, "session.access_token"},
		{"ext too large", challengeState{Challenge: consent, Found: true},
			answerChallenge{ChallengeConsent, ChallengeAnswer{Accept: true, Ext: json.RawMessage(`{"x":"` + strings.Repeat("y", MaxExtBytes) + `"}`)}}, nil, nil, "session.access_token"},
		{"reject consent", challengeState{Challenge: consent, Found: true},
			answerChallenge{ChallengeConsent, ChallengeAnswer{Error: "consent_required"}},
			[]Event{ConsentRejected{ChallengeID: "h", ClientID: "c-1", Error: "consent_required"}}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decideChallengeAnswer(tc.st, tc.cmd, challengeNow, nil)
			switch {
			case tc.wantField != "":
				if v, ok := AsValidation(err); !ok || v.Field != tc.wantField {
					t.Fatalf("got %v; want a ValidationError on %s", err, tc.wantField)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got %v; want %v", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideChallengeReturn(t *testing.T) {
	accepted := Challenge{ID: "h", Kind: ChallengeLogin, ClientID: "c-1", BrowserHash: testBrowser,
		ExpiresAt: challengeNow.Add(time.Minute), Answer: ChallengeAccepted, Subject: "u-1"}
	with := func(f func(*Challenge)) challengeState {
		c := accepted
		f(&c)
		return challengeState{Challenge: c, Found: true}
	}
	for _, tc := range []struct {
		name    string
		st      challengeState
		cmd     returnChallenge
		want    Event
		wantErr string
	}{
		{"login", with(func(*Challenge) {}), returnChallenge{ChallengeLogin, testBrowser}, LoginCompleted{ChallengeID: "h", ClientID: "c-1"}, ""},
		{"rejected login completes too", with(func(c *Challenge) { c.Answer = ChallengeRejected }), returnChallenge{ChallengeLogin, testBrowser}, LoginCompleted{ChallengeID: "h", ClientID: "c-1"}, ""},
		{"consent", with(func(c *Challenge) { c.Kind = ChallengeConsent }), returnChallenge{ChallengeConsent, testBrowser}, ConsentCompleted{ChallengeID: "h", ClientID: "c-1"}, ""},
		{"unknown", challengeState{}, returnChallenge{ChallengeLogin, testBrowser}, nil, "unknown"},
		{"other kind", with(func(*Challenge) {}), returnChallenge{ChallengeConsent, testBrowser}, nil, "unknown"},
		{"another browser", with(func(*Challenge) {}), returnChallenge{ChallengeLogin, strings.Repeat("0", 64)}, nil, "another browser"},
		{"no browser", with(func(*Challenge) {}), returnChallenge{ChallengeLogin, ""}, nil, "another browser"},
		{"replay", with(func(c *Challenge) { c.Completed = true }), returnChallenge{ChallengeLogin, testBrowser}, nil, "used already"},
		{"expired", with(func(c *Challenge) { c.ExpiresAt = challengeNow }), returnChallenge{ChallengeLogin, testBrowser}, nil, "expired"},
		{"not answered", with(func(c *Challenge) { c.Answer = "" }), returnChallenge{ChallengeLogin, testBrowser}, nil, "not been answered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decideChallengeReturn(tc.st, tc.cmd, challengeNow, nil)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v; want invalid_request saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
		})
	}
}

// TestApplyChallengeOneAnswer: a second answer, and a completion of an
// unanswered challenge, change nothing.
func TestApplyChallengeOneAnswer(t *testing.T) {
	c := ApplyChallenge(Challenge{}, LoginRequested{ChallengeID: "h", ClientID: "c-1"}, 1, challengeNow)
	if c2 := ApplyChallenge(c, LoginCompleted{ChallengeID: "h"}, 2, challengeNow); c2.Completed || c2.Seq != 1 {
		t.Errorf("completion before an answer: got %+v", c2)
	}
	c = ApplyChallenge(c, LoginAccepted{ChallengeID: "h", Subject: "u-1"}, 2, challengeNow)
	c = ApplyChallenge(c, LoginRejected{ChallengeID: "h", Error: "access_denied"}, 3, challengeNow)
	if c.Answer != ChallengeAccepted || c.Subject != "u-1" || c.Seq != 2 {
		t.Errorf("second answer: got %+v; want the first kept", c)
	}
}
