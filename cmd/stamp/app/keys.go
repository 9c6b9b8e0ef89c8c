package app

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stamp-oauth/stamp/domain"
)

// errNoKey: no signing key is configured or on disk.
var errNoKey = errors.New("no signing key: run `stamp install` or `stamp keys`")

// loadSigningKey returns the configured signing key: PEM text from the
// private_key setting first, else the private key file. A missing file is
// errNoKey.
func loadSigningKey(c Config) (crypto.Signer, error) {
	if c.PrivateKey != "" {
		k, err := domain.ParsePrivateKeyPEM([]byte(c.PrivateKey))
		if err != nil {
			return nil, fmt.Errorf("private_key: %w", err)
		}
		return k, nil
	}
	b, err := os.ReadFile(c.PrivateKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoKey
	}
	if err != nil {
		return nil, fmt.Errorf("private_key_file: %w", err)
	}
	k, err := domain.ParsePrivateKeyPEM(b)
	if err != nil {
		return nil, fmt.Errorf("private_key_file %s: %w", c.PrivateKeyFile, err)
	}
	return k, nil
}

// writeSigningKey generates a key for the configured algorithm and writes
// it to the private key file with mode 0600 (its folder 0700). It refuses
// to replace an existing file unless force is set; the replacement is
// written beside it and renamed, so a crash leaves the old key or the new
// one, never half of either.
func writeSigningKey(c Config, force bool) (crypto.Signer, error) {
	if _, err := os.Stat(c.PrivateKeyFile); err == nil && !force {
		return nil, fmt.Errorf("%s already exists (use --force to replace it)", c.PrivateKeyFile)
	}
	key, err := domain.GenerateSigningKey(c.SigningAlgorithm, rand.Reader)
	if err != nil {
		return nil, err
	}
	pem, err := domain.EncodePrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(c.PrivateKeyFile), 0o700); err != nil {
		return nil, err
	}
	tmp := c.PrivateKeyFile + ".new"
	if err := os.WriteFile(tmp, pem, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, c.PrivateKeyFile); err != nil {
		return nil, err
	}
	return key, nil
}

// ensureSigningKey loads the signing key, generating one into the private
// key file on first use, so a fresh `stamp serve` needs no set-up step
// (`stamp install` does the same ahead of time). It also checks that the key matches the configured algorithm.
func ensureSigningKey(c Config) (key crypto.Signer, generated bool, err error) {
	key, err = loadSigningKey(c)
	if errors.Is(err, errNoKey) {
		key, err = writeSigningKey(c, false)
		generated = true
	}
	if err != nil {
		return nil, false, err
	}
	alg, err := domain.AlgorithmOf(key)
	if err != nil {
		return nil, false, err
	}
	if alg != c.SigningAlgorithm {
		return nil, false, fmt.Errorf("the signing key is %s but signing_algorithm is %s: run `stamp keys --force` to make a new %s key, or set signing_algorithm to %s", alg, c.SigningAlgorithm, c.SigningAlgorithm, alg)
	}
	return key, generated, nil
}

// loadSealingKey returns the key that seals password hashes and signs
// sessions: from the sealing_key setting, else from its file, generated
// (mode 0600) on first use.
func loadSealingKey(c Config) ([]byte, error) {
	if c.SealingKey != "" {
		return hex.DecodeString(c.SealingKey)
	}
	b, err := os.ReadFile(c.SealingKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, domain.SealingKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(c.SealingKeyFile), 0o700); err != nil {
			return nil, err
		}
		tmp := c.SealingKeyFile + ".new"
		if err := os.WriteFile(tmp, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, err
		}
		return key, os.Rename(tmp, c.SealingKeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("sealing_key_file: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != domain.SealingKeySize {
		return nil, fmt.Errorf("sealing_key_file %s: want %d hex digits", c.SealingKeyFile, 2*domain.SealingKeySize)
	}
	return key, nil
}

// sessionKey derives the session-signing key from the sealing key, so
// one secret serves both and neither use can stand in for the other.
func sessionKey(sealing []byte) []byte {
	m := hmac.New(sha256.New, sealing)
	m.Write([]byte("stamp session key v1"))
	return m.Sum(nil)
}
