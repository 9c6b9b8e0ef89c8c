package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// tooManyAttempts is the error_description of a 429 on the OAuth
// endpoints. Its error code is invalid_request: RFC 6749 §5.2 registers no
// code for a rate limit, and invalid_request is the one that neither tells
// the client its credentials are wrong (invalid_client, invalid_grant:
// libraries drop credentials on those) nor invents a code strict clients
// cannot parse. The status (429) and Retry-After say what happened.
const tooManyAttempts = "too many attempts, retry later"

// defaultRetryAfter is the Retry-After of a 503 whose error names no wait
// of its own: a deadline that passed, or temporarily_unavailable without
// a *domain.RetryError.
const defaultRetryAfter = time.Second

// setRetryAfter sets Retry-After (RFC 9110 §10.2.3, whole seconds, at
// least 1) for every error answered 429 or 503 — a *domain.RetryError's
// own wait, else defaultRetryAfter for a context that ended or
// domain.ErrTemporarilyUnavailable — and returns the wait; 0 for any
// other error, which gets none.
func setRetryAfter(w http.ResponseWriter, err error) time.Duration {
	var wait time.Duration
	if retry, ok := errors.AsType[*domain.RetryError](err); ok {
		wait = retry.After
	} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, domain.ErrTemporarilyUnavailable) {
		wait = defaultRetryAfter
	} else {
		return 0
	}
	secs := max(int64(math.Ceil(wait.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	return time.Duration(secs) * time.Second
}

// waitText says a wait to a person: "a few seconds", "about 3 minutes".
func waitText(d time.Duration) string {
	switch {
	case d <= 10*time.Second:
		return "a few seconds"
	case d < 90*time.Second:
		return fmt.Sprintf("about %d seconds", int(math.Ceil(d.Seconds()/10))*10)
	default:
		return fmt.Sprintf("about %d minutes", int(math.Ceil(d.Minutes())))
	}
}
