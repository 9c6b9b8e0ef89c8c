package domain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrIssuerMismatch is matched (errors.Is) by the *IssuerMismatchError
// ChangeSettings returns when it must keep the announced issuer and the
// settings name another.
var ErrIssuerMismatch = errors.New("domain: the issuer differs from the one announced")

// IssuerMismatchError reports an issuer that differs from the last one
// announced in the log: tokens carry the issuer in "iss", so instances with
// different issuers reject each other's tokens.
type IssuerMismatchError struct {
	Announced string // the issuer last announced in the log
	Here      string // the issuer of the settings that were refused
}

func (e *IssuerMismatchError) Error() string {
	return fmt.Sprintf("domain: issuer %s differs from the issuer %s announced in the log", e.Here, e.Announced)
}

// Is reports whether target is ErrIssuerMismatch.
func (e *IssuerMismatchError) Is(target error) bool { return target == ErrIssuerMismatch }

// SettingsChange is what ChangeSettings found in the log and did.
type SettingsChange struct {
	// Previous are the settings last announced before, and HadPrevious
	// whether any were.
	Previous    ServerConfigured
	HadPrevious bool
	// Appended reports whether a ServerConfigured was appended.
	Appended bool
}

// ChangeSettings appends ServerConfigured with settings unless they are
// the ones last announced, and reports what was there before. With
// keepIssuer, settings whose issuer differs from the last announced one
// are refused with an *IssuerMismatchError and nothing is appended: a
// cluster keeps one issuer until someone changes it deliberately. The
// other settings may change (the last announcement wins). Two servers
// announcing at once are ordered by the aggregate's sequence: each decides
// again on what the other appended, so the second of two first starts
// with different issuers is refused too.
func (s *Service) ChangeSettings(ctx context.Context, actor Actor, settings ServerConfigured, keepIssuer bool) (SettingsChange, error) {
	var change SettingsChange
	err := retry(ctx, func() error {
		change = SettingsChange{}
		last, err := load(ctx, s.ports.Log, Aggregate{KindServer, ServerConfigID}, applyServerSettings)
		expect := ExpectSeq(last.seq)
		state := announcedSettings{Last: last.settings, Found: true}
		switch {
		case errors.Is(err, ErrNotFound):
			expect, state = ExpectNew, announcedSettings{}
		case err != nil:
			return err
		}
		events, err := decideChangeSettings(state, settingsChange{Settings: settings, KeepIssuer: keepIssuer}, s.cfg.Now(), s.cfg.Random)
		change.Previous, change.HadPrevious = state.Last, state.Found
		if err != nil || len(events) == 0 {
			return err
		}
		if _, err := s.record(ctx, expect, actor, events...); err != nil {
			return err
		}
		change.Appended = true
		return nil
	})
	if err != nil {
		return change, fmt.Errorf("domain: announce settings: %w", err)
	}
	return change, nil
}

// announcedSettings is the state ChangeSettings decides on: the settings
// last announced in the log, and whether any were.
type announcedSettings struct {
	Last  ServerConfigured
	Found bool
}

// settingsChange is the command of ChangeSettings.
type settingsChange struct {
	Settings   ServerConfigured
	KeepIssuer bool
}

// decideChangeSettings decides an announcement of settings: the ones last
// announced are not announced again (no event); with KeepIssuer, settings
// whose issuer differs from the last announced one are refused with an
// *IssuerMismatchError, since instances with different issuers reject
// each other's tokens; the first announcement, and any other change, is
// ServerConfigured (the last announcement wins).
func decideChangeSettings(state announcedSettings, cmd settingsChange, _ time.Time, _ io.Reader) ([]Event, error) {
	if state.Found && state.Last.Equal(cmd.Settings) {
		return nil, nil
	}
	if cmd.KeepIssuer && state.Found && state.Last.Issuer != cmd.Settings.Issuer {
		return nil, &IssuerMismatchError{Announced: state.Last.Issuer, Here: cmd.Settings.Issuer}
	}
	return []Event{cmd.Settings}, nil
}
