package httpapi

import (
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

// setRetryAfter sets Retry-After (RFC 9110 §10.2.3, whole seconds, at
// least 1) when err is a *domain.RetryError, and returns the wait.
func setRetryAfter(w http.ResponseWriter, err error) time.Duration {
	retry, ok := errors.AsType[*domain.RetryError](err)
	if !ok {
		return 0
	}
	secs := int64(math.Ceil(retry.After.Seconds()))
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	return time.Duration(max(secs, 1)) * time.Second
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
