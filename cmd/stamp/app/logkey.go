package app

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stamp-oauth/stamp/domain"
)

// loadLogSigningKey returns the Ed25519 key that signs every event this
// instance appends: from the log_signing_key setting (STAMP_LOG_SIGNING_KEY,
// for a cluster whose instances share it), else from its file, generated
// (mode 0600, its folder 0700) on first use, as the sealing key is. The
// file holds the 32-byte seed in base64.
func loadLogSigningKey(c Config) (ed25519.PrivateKey, error) {
	if c.LogSigningKey != "" {
		k, err := domain.ParseLogPrivateKey(c.LogSigningKey)
		if err != nil {
			return nil, fmt.Errorf("log_signing_key: %w", err)
		}
		return k, nil
	}
	b, err := os.ReadFile(c.LogSigningKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(c.LogSigningKeyFile), 0o700); err != nil {
			return nil, err
		}
		tmp := c.LogSigningKeyFile + ".new"
		if err := os.WriteFile(tmp, []byte(base64.StdEncoding.EncodeToString(key.Seed())+"\n"), 0o600); err != nil {
			return nil, err
		}
		return key, os.Rename(tmp, c.LogSigningKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("log_signing_key_file: %w", err)
	}
	k, err := domain.ParseLogPrivateKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("log_signing_key_file %s: %w", c.LogSigningKeyFile, err)
	}
	return k, nil
}
