package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenAnswer is the JSON a token endpoint answers, success or error,
// with the HTTP status.
type tokenAnswer struct {
	status       int
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// callToken posts form to the token endpoint u, authenticating with HTTP
// Basic when secret is set and by client_id alone (a public client)
// otherwise. It does not use testing.T, so goroutines may call it.
func callToken(u, clientID, secret string, form url.Values) (tokenAnswer, error) {
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	if secret == "" && clientID != "" {
		f.Set("client_id", clientID)
	}
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(f.Encode()))
	if err != nil {
		return tokenAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	client := http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return tokenAnswer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return tokenAnswer{}, err
	}
	a := tokenAnswer{status: resp.StatusCode}
	if err := json.Unmarshal(body, &a); err != nil {
		return a, fmt.Errorf("status %d, body %q: %w", resp.StatusCode, body, err)
	}
	return a, nil
}

// mustToken is callToken failing the test on a transport error.
func mustToken(t *testing.T, u, clientID, secret string, form url.Values) tokenAnswer {
	t.Helper()
	a, err := callToken(u, clientID, secret, form)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// wantTokenError checks a token endpoint answer is 400 with code.
func wantTokenError(t *testing.T, what string, a tokenAnswer, code string) {
	t.Helper()
	if a.status != http.StatusBadRequest || a.Error != code {
		t.Errorf("%s: got %d %q (%s); want 400 %s", what, a.status, a.Error, a.Description, code)
	}
}

// race sends n copies of one token request at once (released together)
// and returns the answers.
func race(t *testing.T, u, clientID, secret string, form url.Values, n int) []tokenAnswer {
	t.Helper()
	answers := make([]tokenAnswer, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i], errs[i] = callToken(u, clientID, secret, form)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return answers
}

// oneWinner checks that exactly one of answers is 200 and every other one
// 400 invalid_grant, and returns the winner.
func oneWinner(t *testing.T, what string, answers []tokenAnswer) tokenAnswer {
	t.Helper()
	var winners []tokenAnswer
	for _, a := range answers {
		switch {
		case a.status == http.StatusOK:
			winners = append(winners, a)
		case a.status != http.StatusBadRequest || a.Error != "invalid_grant":
			t.Errorf("%s: a loser got %d %q (%s); want 400 invalid_grant", what, a.status, a.Error, a.Description)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%s: %d of %d concurrent requests got tokens; want exactly 1", what, len(winners), len(answers))
	}
	return winners[0]
}
