package clilog

import (
	"fmt"
	"slices"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// KnownType reports whether t is an event type this stamp knows.
func KnownType(t string) bool { return slices.Contains(domain.EventTypes(), t) }

// Filter selects records by what a subject filter cannot express: any of
// Types (none: all), about Client (its own events and those naming it as
// client_id), about User (likewise with user_id). Empty fields select
// everything.
type Filter struct {
	Types        []string
	Client, User string
}

// Match reports whether r passes every set field of f.
func (f Filter) Match(r domain.Recorded) bool {
	if len(f.Types) > 0 && !slices.Contains(f.Types, r.Envelope.Type) {
		return false
	}
	agg, _, _ := domain.ParseSubject(r.Subject)
	if f.Client != "" && !(agg == domain.Aggregate{Kind: domain.KindClient, ID: f.Client}) && domain.DataField(r.Envelope.Data, "client_id") != f.Client {
		return false
	}
	if f.User != "" && !(agg == domain.Aggregate{Kind: domain.KindUser, ID: f.User}) && domain.DataField(r.Envelope.Data, "user_id") != f.User {
		return false
	}
	return true
}

// ParseMoment reads a moment: a duration before now ("2h", "90m"), RFC
// 3339, or a date and time without zone (taken as UTC). It fails on a
// negative duration and on anything else.
func ParseMoment(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: want a positive duration", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (2h) nor a time (2026-01-02T15:04:05Z)", s)
}
