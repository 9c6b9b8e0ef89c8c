package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// errLogNotClean makes `stamp verify` exit 1 once it has printed what is
// wrong.
var errLogNotClean = errors.New("the log is not clean")

// logProblem is one thing `stamp verify` found wrong.
type logProblem struct {
	Seq  uint64 // first sequence concerned
	What string
	// Newer: an intact event of a type or version this stamp does not know
	// yet (no damage: an upgrade applies it).
	Newer bool
}

// cmdVerify checks the whole log from its first sequence: contiguity, that
// every message is an event envelope of a known type and version, and that
// every event after the adoption point carries a valid log signature of a
// trusted key. It prints each problem with its sequence on stdout and
// progress on stderr, and fails (exit 1) when it found any.
//
// The trusted key is --public-key (base64, or a file holding it), else the
// public half of this machine's log-signing key. It opens the stream
// read-only, so an auditor can run it with any NATS identity that can read
// (--nats-url with --nats-user/--nats-password or --nats-creds).
func cmdVerify(ctx context.Context, args []string, cio IO) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	pubArg := fs.String("public-key", "", "trust this Ed25519 public key (base64, or a file holding it) instead of the local log-signing key")
	c, pos, err := parse(fs, args, cio)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	pub, err := verifyKey(c, *pubArg)
	if err != nil {
		return err
	}
	logger := newLogger(c, cio.Stderr)
	store, closeLog, err := openReadOnlyLog(ctx, c, pub, logger)
	if err != nil {
		return err
	}
	defer closeLog()

	problems, checked, err := verifyLog(ctx, store, progressTo(cio.Stderr))
	if err != nil {
		return err
	}
	ls := store.LogSigning()
	if ls.Adopted {
		fmt.Fprintf(cio.Stdout, "log signing: key %s, adopted at sequence %d (events up to it are accepted unsigned)\n", domain.LogKeyID(pub), ls.AdoptedAt)
	} else {
		fmt.Fprintf(cio.Stdout, "log signing: not adopted in this log; events are accepted unsigned, and signed ones must verify with key %s\n", domain.LogKeyID(pub))
	}
	for _, p := range problems {
		fmt.Fprintf(cio.Stdout, "sequence %d: %s\n", p.Seq, p.What)
	}
	fmt.Fprintf(cio.Stdout, "checked %d events: %d problems\n", checked, len(problems))
	if len(problems) > 0 {
		return errLogNotClean
	}
	return nil
}

// verifyKey returns the public key verify trusts: arg (base64 or a file),
// else the public half of the configured log-signing key, which it never
// generates.
func verifyKey(c Config, arg string) (ed25519.PublicKey, error) {
	if arg != "" {
		text := arg
		if b, err := os.ReadFile(arg); err == nil {
			text = string(b)
		}
		pub, err := domain.ParseLogPublicKey(text)
		if err != nil {
			return nil, usageErrorf("--public-key: %v", err)
		}
		return pub, nil
	}
	if c.LogSigningKey == "" {
		if _, err := os.Stat(c.LogSigningKeyFile); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no log-signing key at %s: give the log's public key with --public-key", c.LogSigningKeyFile)
		}
	}
	key, err := loadLogSigningKey(c)
	if err != nil {
		return nil, err
	}
	return key.Public().(ed25519.PublicKey), nil
}

// openReadOnlyLog opens the log read-only, trusting pub: on --nats-url, on
// the running server's NATS (serve.json), or on an embedded server started
// on the data directory for the length of the command.
func openReadOnlyLog(ctx context.Context, c Config, pub ed25519.PublicKey, logger *slog.Logger) (*eventstore.Store, func(), error) {
	opts := eventstore.Options{
		URL: c.NATSURL, User: c.NATSUser, Password: c.NATSPassword, CredsFile: c.NATSCreds, NkeySeedFile: c.NATSNkey,
		TrustedLogKeys: []ed25519.PublicKey{pub},
	}
	if opts.URL == "" {
		if info, err := readServeInfo(c); err == nil && info.NATSURL != "" {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			opts.URL, opts.NkeySeedFile = info.NATSURL, natsSeedFile(c, eventstore.RoleReader)
			store, err := eventstore.OpenReadOnly(cctx, opts)
			cancel()
			if err == nil {
				return store, store.Close, nil
			}
			logger.Debug("the server in serve.json is not reachable; opening the store", "url", info.NATSURL, "err", err)
			opts.URL, opts.NkeySeedFile = "", ""
		}
	}
	var srv *eventstore.Server
	if opts.URL == "" {
		var err error
		srv, err = eventstore.StartServer(eventstore.ServerOptions{
			StoreDir: filepath.Join(c.DataDir, "jetstream"), KeysDir: natsKeysDir(c), Host: c.NATSHost, Port: -1,
		}, nil)
		if errors.Is(err, eventstore.ErrStoreLocked) {
			return nil, nil, errors.New("the data directory is in use by a server whose NATS address is unknown; run the command with --nats-url")
		}
		if err != nil {
			return nil, nil, err
		}
		opts.InProcess = srv
	}
	store, err := eventstore.OpenReadOnly(ctx, opts)
	if err != nil {
		if srv != nil {
			srv.Shutdown()
		}
		return nil, nil, err
	}
	return store, func() {
		store.Close()
		if srv != nil {
			srv.Shutdown()
		}
	}, nil
}

// verifyLog reads the whole log from its first sequence up to its last as
// of the call and returns what is wrong, in stream order, and how many
// events it checked. progress is told (done, total) as it goes.
func verifyLog(ctx context.Context, store *eventstore.Store, progress func(done, total uint64)) ([]logProblem, uint64, error) {
	first, err := store.FirstSeq(ctx)
	if err != nil {
		return nil, 0, err
	}
	last, err := store.LastSeq(ctx)
	if err != nil {
		return nil, 0, err
	}
	if first == 0 {
		return nil, 0, nil
	}
	// A first sequence above 1 is no problem: the stream's MaxAge dropped
	// the older events.
	total := last - first + 1
	k := logChecker{next: first}
	checked := uint64(0)
	err = store.Replay(ctx, first, "", func(r domain.Recorded) error {
		k.check(r)
		checked++
		if checked%4096 == 0 {
			progress(checked, total)
		}
		return nil
	})
	if err != nil {
		return nil, checked, err
	}
	k.end(last)
	progress(checked, total)
	return k.problems, checked, nil
}

// checkRecord returns what is wrong with one stored event, or "".
func checkRecord(r domain.Recorded) string {
	if r.Refused != "" {
		return "refused: " + r.Refused + " on " + r.Subject
	}
	e, err := domain.Decode(r.Envelope)
	var future *domain.FutureVersionError
	switch {
	case errors.Is(err, domain.ErrUnknownEventType):
		return fmt.Sprintf("unknown event type %q on %s", r.Envelope.Type, r.Subject)
	case errors.As(err, &future):
		return fmt.Sprintf("%s version %d is newer than this stamp knows (%d) on %s: upgrade stamp, then run stamp replay", future.Type, future.Version, future.Known, r.Subject)
	case err != nil:
		return fmt.Sprintf("undecodable %s on %s: %v", r.Envelope.Type, r.Subject, err)
	}
	if !e.AggregateOf().OnSubject(r.Subject, r.Envelope.Type) {
		return fmt.Sprintf("%s of %s recorded on subject %s", r.Envelope.Type, e.AggregateOf(), r.Subject)
	}
	return ""
}

// progressTo returns a progress function writing "verify: done/total
// events" lines to w, at most one a second (and the last).
func progressTo(w io.Writer) func(done, total uint64) {
	var last time.Time
	return func(done, total uint64) {
		if now := time.Now(); now.Sub(last) >= time.Second || done >= total {
			last = now
			fmt.Fprintf(w, "verify: %d/%d events\n", done, total)
		}
	}
}
