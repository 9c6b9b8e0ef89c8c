package app

import (
	"fmt"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/httpapi"
)

// passwordHookOptions returns the password hook's options from c.
func (c *Config) passwordHookOptions() httpapi.PasswordHookOptions {
	return httpapi.PasswordHookOptions{URL: c.PasswordHookURL, Secret: []byte(c.PasswordHookSecret), Timeout: time.Duration(c.PasswordHookTimeout)}
}

// validatePasswordHook checks the password hook settings: none, or a URL
// with a secret and a positive timeout.
func (c *Config) validatePasswordHook() error {
	if c.PasswordHookTimeout <= 0 {
		return fmt.Errorf("config: password_hook_timeout: must be positive")
	}
	if c.PasswordHookURL == "" {
		if c.PasswordHookSecret != "" {
			return fmt.Errorf("config: password_hook_secret: set without password_hook_url")
		}
		return nil
	}
	if _, err := httpapi.NewPasswordHook(c.passwordHookOptions()); err != nil {
		name := "password_hook_url"
		if len(c.PasswordHookSecret) < httpapi.MinPasswordHookSecret {
			name = "password_hook_secret"
		}
		return fmt.Errorf("config: %s: %v", name, err)
	}
	return nil
}

// passwordHook returns the domain's password hook, or nil when none is
// configured (stamp checks its users' passwords itself).
func (c *Config) passwordHook() (domain.PasswordHook, error) {
	if c.PasswordHookURL == "" {
		return nil, nil
	}
	return httpapi.NewPasswordHook(c.passwordHookOptions())
}
