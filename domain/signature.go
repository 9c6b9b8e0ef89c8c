package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Outgoing requests stamp signs (webhooks, the password hook) follow
// Stripe's scheme: the X-Stamp-Signature header reads
// "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>". The
// signed timestamp lets a receiver refuse a replayed request.

// SignatureMAC returns HMAC-SHA256(secret, ts + "." + body), the v1 value
// of a signature (before hex encoding). It is safe for concurrent use.
func SignatureMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// SignPayload returns the X-Stamp-Signature header value for body sent at
// t.
func SignPayload(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(SignatureMAC(secret, ts, body))
}
