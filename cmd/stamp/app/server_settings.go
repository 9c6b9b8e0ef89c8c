package app

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// The settings a server publishes so that the CLI acts on the same ones:
// in serve.json while it runs, and in the log (ServerConfigured, at each
// start whose settings differ from the last announced).

// settingsOf returns the effective settings of c a server publishes.
func settingsOf(c Config) domain.ServerConfigured {
	return domain.ServerConfigured{
		Issuer:        c.Issuer,
		Scopes:        slices.Clone(c.Scopes),
		DefaultScopes: slices.Clone(c.DefaultScopes),
		Lifetimes: domain.ServerLifetimes{
			AccessToken:       domain.Seconds(time.Duration(c.AccessTokenTTL)),
			ClientCredentials: domain.Seconds(time.Duration(c.ClientCredentialsTTL)),
			RefreshToken:      domain.Seconds(time.Duration(c.RefreshTokenTTL)),
			PersonalAccess:    domain.Seconds(time.Duration(c.PersonalAccessTTL)),
		},
	}
}

// withSettings returns c with s's settings in place of its own.
func withSettings(c Config, s domain.ServerConfigured) Config {
	c.Issuer = s.Issuer
	c.Scopes, c.DefaultScopes = slices.Clone(s.Scopes), slices.Clone(s.DefaultScopes)
	c.AccessTokenTTL = Duration(time.Duration(s.Lifetimes.AccessToken) * time.Second)
	c.ClientCredentialsTTL = Duration(time.Duration(s.Lifetimes.ClientCredentials) * time.Second)
	c.RefreshTokenTTL = Duration(time.Duration(s.Lifetimes.RefreshToken) * time.Second)
	c.PersonalAccessTTL = Duration(time.Duration(s.Lifetimes.PersonalAccess) * time.Second)
	return c
}

// settingsDiff names each setting where here differs from server, with
// both values.
func settingsDiff(here, server domain.ServerConfigured) []string {
	var out []string
	add := func(name, s, h string) {
		if s != h {
			out = append(out, fmt.Sprintf("%s %s (here %s)", name, s, h))
		}
	}
	add("issuer", server.Issuer, here.Issuer)
	add("scopes", scopeIDs(server.Scopes), scopeIDs(here.Scopes))
	add("default scopes", listText(server.DefaultScopes), listText(here.DefaultScopes))
	for _, l := range []struct {
		name string
		s, h int64
	}{
		{"access_token_ttl", server.Lifetimes.AccessToken, here.Lifetimes.AccessToken},
		{"client_credentials_ttl", server.Lifetimes.ClientCredentials, here.Lifetimes.ClientCredentials},
		{"refresh_token_ttl", server.Lifetimes.RefreshToken, here.Lifetimes.RefreshToken},
		{"personal_access_token_ttl", server.Lifetimes.PersonalAccess, here.Lifetimes.PersonalAccess},
	} {
		add(l.name, (time.Duration(l.s) * time.Second).String(), (time.Duration(l.h) * time.Second).String())
	}
	if len(out) == 0 && !here.Equal(server) { // only scope descriptions differ
		out = append(out, "scope descriptions")
	}
	return out
}

func scopeIDs(list []domain.Scope) string {
	ids := make([]string, len(list))
	for i, s := range list {
		ids[i] = s.ID
	}
	return listText(ids)
}

func listText(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ",")
}

// serverSettings returns c with the settings of the server this command
// acts for in place of its own: those in serve.json when the CLI reached
// the running server through it, else the last announced in the log. It
// says so on w when they differ from c's; with none known, it returns c.
func serverSettings(ctx context.Context, c Config, l *cliLog, w io.Writer) (Config, error) {
	var server domain.ServerConfigured
	var from string
	if l.info != nil && l.info.Settings != nil {
		server, from = *l.info.Settings, "the running server's settings (serve.json)"
	} else {
		last, ok, err := domain.LastServerSettings(ctx, l)
		if err != nil {
			return c, fmt.Errorf("read the server's settings: %w", err)
		}
		if !ok {
			return c, nil
		}
		server, from = last, "the settings the server last announced in the log"
	}
	here := settingsOf(c)
	if here.Equal(server) {
		return c, nil
	}
	adopted := withSettings(c, server).withDerived()
	if err := adopted.Validate(); err != nil {
		return c, fmt.Errorf("%s are not valid here: %w", from, err)
	}
	fmt.Fprintf(w, "stamp: using %s, not this environment's: %s\n", from, strings.Join(settingsDiff(here, server), "; "))
	return adopted, nil
}
