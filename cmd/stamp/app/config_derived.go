package app

import (
	"path/filepath"
	"strings"
)

// withDerived returns c with the defaults that derive from other settings
// filled, as LoadConfig does before Validate: the issuer from the HTTP
// address (remembered in derivedIssuer) and without a trailing slash, the
// replicas (1 embedded, 3 with --nats-url), the key files under the data
// directory, and the client-credentials lifetime from the access-token
// one. Set fields are kept. It does no I/O and checks nothing.
func (c Config) withDerived() Config {
	if c.Issuer == "" {
		c.Issuer = "http://" + c.HTTPAddr
		c.derivedIssuer = c.Issuer
	}
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	if c.Replicas == 0 {
		c.Replicas = 1
		if c.NATSURL != "" {
			c.Replicas = 3
		}
	}
	if c.PrivateKeyFile == "" {
		c.PrivateKeyFile = filepath.Join(c.DataDir, "keys", "private.pem")
	}
	if c.SealingKeyFile == "" {
		c.SealingKeyFile = filepath.Join(c.DataDir, "keys", "sealing.key")
	}
	if c.LogSigningKeyFile == "" {
		c.LogSigningKeyFile = filepath.Join(c.DataDir, "keys", "log-signing.key")
	}
	if c.ClientCredentialsTTL == 0 {
		c.ClientCredentialsTTL = c.AccessTokenTTL
	}
	return c
}
