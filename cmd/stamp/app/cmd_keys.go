package app

import (
	"context"
	"crypto"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/clilog"
	"github.com/stamp-oauth/stamp/domain"
)

// cmdInstall prepares a data directory, as passport:install: it creates
// the signing key and the sealing key if there are none, announces the
// signing key's public half in the log, and creates the personal access
// client and the password grant client unless live ones exist. Running it
// again changes nothing.
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
	return withCLIService(ctx, c, io, func(svc *domain.Service, l *cliLog) error {
		kid, err := svc.AnnounceSigningKey(ctx, domain.Actor{Kind: domain.ActorCLI}, key)
		if err != nil {
			return err
		}
		if generated {
			fmt.Fprintf(io.Stdout, "Signing key created: %s (%s, kid %s)\n", c.PrivateKeyFile, c.SigningAlgorithm, kid)
		} else {
			fmt.Fprintf(io.Stdout, "Signing key present: %s (kid %s)\n", c.PrivateKeyFile, kid)
		}
		w, err := clilog.Fold(ctx, l, l.keys, domain.KindClient)
		if err != nil {
			return err
		}
		for _, want := range []struct {
			name   string
			grants []string
		}{
			{"Personal Access Client", []string{domain.GrantPersonalAccess}},
			{"Password Grant Client", []string{domain.GrantPassword, domain.GrantRefreshToken}},
		} {
			if id := w.LiveClientWith(want.grants[0]); id != "" {
				fmt.Fprintf(io.Stdout, "%s present: %s\n", want.name, id)
				continue
			}
			cl, secret, err := svc.RegisterClient(ctx, domain.Actor{Kind: domain.ActorCLI}, domain.RegisterClient{Name: want.name, Grants: want.grants, FirstParty: true})
			if err != nil {
				return err
			}
			fmt.Fprintf(io.Stdout, "%s created.\nClient ID: %s\nClient secret: %s\n", want.name, cl.ID, secret)
		}
		return nil
	})
}

// cmdKeys creates the signing key file, as passport:keys; --force
// replaces an existing one. The new key's public half is announced in the
// log; a running server signs with it after its next restart.
// `stamp keys rotate` rotates without a restart (see cmdKeysRotate).
func cmdKeys(ctx context.Context, args []string, io IO) error {
	if len(args) > 0 && args[0] == "rotate" {
		return cmdKeysRotate(ctx, args[1:], io)
	}
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	force := fs.Bool("force", false, "replace an existing key")
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q (want nothing, or rotate)", pos[0])
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

func announceKey(ctx context.Context, c Config, io IO, key crypto.Signer) (kid string, err error) {
	err = withCLIService(ctx, c, io, func(svc *domain.Service, _ *cliLog) error {
		kid, err = svc.AnnounceSigningKey(ctx, domain.Actor{Kind: domain.ActorCLI}, key)
		return err
	})
	return kid, err
}

// cmdKeysRotate makes a new signing key the current one: the old key file
// moves to keys/retired/<kid>.pem, the new one takes its place, and the log
// records SigningKeyGenerated for the new key and SigningKeyRetired for
// every older one. A running server on this key file switches to the new
// key when it sees those events; the JWKS keeps serving each retired key
// until every token it can have signed has expired, so no client breaks.
func cmdKeysRotate(ctx context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if c.PrivateKey != "" {
		return errors.New("the signing key comes from private_key (STAMP_PRIVATE_KEY): rotate by setting a new key there and running `stamp keys rotate --private-key-file` with it, or use a key file")
	}
	old, err := loadSigningKey(c)
	if err != nil {
		return err
	}
	oldKid, err := domain.KeyID(old.Public())
	if err != nil {
		return err
	}
	retired := filepath.Join(filepath.Dir(c.PrivateKeyFile), "retired", oldKid+".pem")
	if err := os.MkdirAll(filepath.Dir(retired), 0o700); err != nil {
		return err
	}
	if err := copyFile(c.PrivateKeyFile, retired); err != nil {
		return fmt.Errorf("archive the current key: %w", err)
	}
	next, err := writeSigningKey(c, true)
	if err != nil {
		return err
	}
	return withCLIService(ctx, c, io, func(svc *domain.Service, _ *cliLog) error {
		kid, retiredKids, err := svc.RotateSigningKey(ctx, domain.Actor{Kind: domain.ActorCLI}, next)
		if err != nil {
			return fmt.Errorf("the new key is in %s but the rotation is not complete (run it again): %w", c.PrivateKeyFile, err)
		}
		fmt.Fprintf(io.Stdout, "Signing key rotated: %s (%s, kid %s); old key archived in %s.\n", c.PrivateKeyFile, c.SigningAlgorithm, kid, retired)
		for _, k := range retiredKids {
			fmt.Fprintf(io.Stdout, "Retired %s: it stays in the JWKS until the last token it signed has expired.\n", k)
		}
		return nil
	})
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}
