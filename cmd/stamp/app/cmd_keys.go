package app

import (
	"context"
	"crypto"
	"flag"
	"fmt"

	"github.com/stamp-oauth/stamp/domain"
)

// cmdInstall prepares a data directory, as passport:install: it creates
// the signing key if there is none and announces its public half in the
// log. Running it again changes nothing.
func cmdInstall(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("install", flag.ContinueOnError)
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	key, generated, err := ensureSigningKey(c)
	if err != nil {
		return err
	}
	kid, err := announceKey(ctx, c, io, key)
	if err != nil {
		return err
	}
	if generated {
		fmt.Fprintf(io.Stdout, "Signing key created: %s (%s, kid %s)\n", c.PrivateKeyFile, c.SigningAlgorithm, kid)
	} else {
		fmt.Fprintf(io.Stdout, "Signing key present: %s (kid %s)\n", c.PrivateKeyFile, kid)
	}
	return nil
}

// cmdKeys creates the signing key file, as passport:keys; --force
// replaces an existing one. The new key's public half is announced in the
// log; a running server signs with it after its next restart.
func cmdKeys(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	force := fs.Bool("force", false, "replace an existing key")
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	key, err := writeSigningKey(c, *force)
	if err != nil {
		return err
	}
	kid, err := announceKey(ctx, c, io, key)
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "Signing key written: %s (%s, kid %s)\n", c.PrivateKeyFile, c.SigningAlgorithm, kid)
	return nil
}

func announceKey(ctx context.Context, c Config, io IO, key crypto.Signer) (string, error) {
	l, err := openCLILog(ctx, c, newLogger(c, io.Stderr))
	if err != nil {
		return "", err
	}
	defer l.Close()
	svc, err := cliService(c, l)
	if err != nil {
		return "", err
	}
	return svc.AnnounceSigningKey(ctx, domain.Actor{Kind: domain.ActorCLI}, key)
}
