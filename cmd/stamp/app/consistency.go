package app

import "github.com/stamp-oauth/stamp/cmd/stamp/internal/freshness"

// Read consistency settings (read_consistency).
const (
	// consistencyStrong: before an answer that depends on everything
	// acknowledged before the request (introspection, bearer and
	// forward-auth validation, listings, "unknown" answers), the
	// instance catches up with the stream's last sequence
	// (cmd/stamp/internal/freshness).
	consistencyStrong = "strong"
	// consistencyLocal answers from the local read models as they are:
	// eventually consistent across instances.
	consistencyLocal = "local"
)

// defaultFreshnessTimeout bounds a catch-up (freshness_timeout).
const defaultFreshnessTimeout = freshness.DefaultTimeout
