package domain

import (
	"context"
	"errors"
	"fmt"
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
		switch {
		case errors.Is(err, ErrNotFound):
			expect = ExpectNew
		case err != nil:
			return err
		default:
			change.Previous, change.HadPrevious = last.settings, true
		}
		if change.HadPrevious && last.settings.Equal(settings) {
			return nil
		}
		if keepIssuer && change.HadPrevious && last.settings.Issuer != settings.Issuer {
			return &IssuerMismatchError{Announced: last.settings.Issuer, Here: settings.Issuer}
		}
		if _, err := s.record(ctx, expect, actor, settings); err != nil {
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
