package app

import (
	"fmt"
	"net/url"
	"time"
)

// validateDelegation checks login_url and consent_url: each empty (the
// built-in login page and approval screen) or an absolute http(s) URL
// without fragment, the page of the application that answers the
// challenge through the admin API.
func (c *Config) validateDelegation() error {
	if c.ChallengeTTL <= 0 || time.Duration(c.ChallengeTTL) > time.Hour {
		return fmt.Errorf("config: challenge_ttl: want more than 0 and at most 1h, got %s", time.Duration(c.ChallengeTTL))
	}
	for _, s := range []struct{ name, value string }{{"login_url", c.LoginURL}, {"consent_url", c.ConsentURL}} {
		if s.value == "" {
			continue
		}
		u, err := url.Parse(s.value)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
			return fmt.Errorf("config: %s: %q is not an absolute http(s) URL without fragment", s.name, s.value)
		}
	}
	return nil
}
