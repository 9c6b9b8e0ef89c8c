package listeners

import (
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// Webhook signatures follow Stripe's scheme (domain.SignPayload, which the
// password hook signs with too). The X-Stamp-Signature header
// reads "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>": the
// signed timestamp lets a receiver refuse a replayed request, and further
// v1 values may follow (a receiver accepts any that matches).

// DefaultWebhookTolerance is how far a signature's timestamp may be from
// the receiver's clock when VerifyWebhook is given no tolerance.
const DefaultWebhookTolerance = 5 * time.Minute

// ErrWebhookSignature is wrapped by every error of VerifyWebhook.
var ErrWebhookSignature = errors.New("listeners: invalid webhook signature")

// SignWebhook returns the X-Stamp-Signature header value for body sent at
// t.
func SignWebhook(secret []byte, t time.Time, body []byte) string {
	return domain.SignPayload(secret, t, body)
}

// VerifyWebhook checks header, an X-Stamp-Signature value, against body
// and secret, and checks that its timestamp is within tolerance of now
// (DefaultWebhookTolerance when tolerance is not positive). MACs are
// compared in constant time. It returns nil when a v1 signature matches and
// the timestamp is fresh, and otherwise an error wrapping
// ErrWebhookSignature. It is safe for concurrent use.
func VerifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: malformed header", ErrWebhookSignature)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: two timestamps", ErrWebhookSignature)
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil {
				return fmt.Errorf("%w: malformed v1 signature", ErrWebhookSignature)
			}
			sigs = append(sigs, sig)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: missing or malformed timestamp", ErrWebhookSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrWebhookSignature)
	}
	want := webhookMAC(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		matched = hmac.Equal(sig, want) || matched
	}
	if !matched {
		return fmt.Errorf("%w: no signature matches", ErrWebhookSignature)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %d is outside the tolerance of %s", ErrWebhookSignature, sec, tolerance)
	}
	return nil
}

// webhookMAC returns HMAC-SHA256(secret, ts + "." + body): the scheme
// domain.SignPayload signs with, shared with the password hook.
func webhookMAC(secret []byte, ts string, body []byte) []byte {
	return domain.SignatureMAC(secret, ts, body)
}
