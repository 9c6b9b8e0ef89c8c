// Package app is the stamp binary as a library: configuration, wiring and
// sub-commands. cmd/stamp's main only calls Main; tests call Main or Start
// to run the whole program in-process.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// IO is what a command reads and writes.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

const usage = `stamp: an event-sourced OAuth2 authorization server

usage: stamp <command> [flags]

commands:
  serve     run the server (embedded NATS unless --nats-url)
  install   create the signing key and announce it
  keys      create a new signing key (--force replaces the current one)
  client    create | list | delete clients
  user      create | list | passwd | delete built-in users
  token     create a personal access token for a user
  events    tail the event stream as JSON lines
  audit     what happened to a token, client or user, as of any time
  purge     drop old revoked and expired tokens from the read models
  replay    rebuild the read models from the log and swap them in
  listeners show the listeners' consumers and their parked events
  verify    check the whole log: gaps, undecodable events, signatures
  bench     measure issuance and introspection against a running server
  nats      credentials of the embedded NATS server's identities
  version   the version and commit of this binary (also --version)

Run 'stamp <command> -h' for the flags of a command. Every setting can also
come from a STAMP_* environment variable or a JSON file (--config).
`

// Main runs one command and returns the process exit code: 0 on success,
// 2 for a usage error, 1 for any other failure (printed to Stderr).
func Main(ctx context.Context, args []string, io IO) int {
	if io.Getenv == nil {
		io.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		fmt.Fprint(io.Stderr, usage)
		return 2
	}
	commands := map[string]func(context.Context, []string, IO) error{
		"serve":   cmdServe,
		"install": cmdInstall,
		"keys":    cmdKeys,
		"client":  cmdClient,
		"user":    cmdUser,
		"token":   cmdToken,
		"bench":   cmdBench,
		"events":  cmdEvents,
		"audit":   cmdAudit,
		"purge":   cmdPurge,
		"replay":  cmdReplay,

		"listeners": cmdListeners,
		"nats":      cmdNats,
		"verify":    cmdVerify,
		"version":   cmdVersion,
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		fmt.Fprint(io.Stdout, usage)
		return 0
	}
	if name == "--version" {
		name = "version"
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(io.Stderr, "stamp: unknown command %q\n\n%s", name, usage)
		return 2
	}
	err := cmd(ctx, args[1:], io)
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(io.Stderr, "stamp %s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(io.Stderr, "stamp %s: %v\n", name, err)
		return 1
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// parse parses args into fs (flags may follow positional arguments) and
// loads the configuration. It returns the positional arguments.
func parse(fs *flag.FlagSet, args []string, io IO) (Config, []string, error) {
	fs.SetOutput(io.Stderr)
	cf := newConfigFlags(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return Config{}, nil, err
			}
			return Config{}, nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	c, err := cf.load(io.Getenv)
	if err == nil && !createsDataDir(fs.Name()) {
		err = requireDataDir(c)
	}
	return c, pos, err
}

// newLogger returns the structured logger the configuration asks for.
func newLogger(c Config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(strings.ToUpper(s)))
	if err != nil {
		return 0, fmt.Errorf("want debug, info, warn or error, got %q", s)
	}
	return l, nil
}

// cmdServe runs the server until ctx ends (SIGINT or SIGTERM in the
// binary), then shuts down gracefully within shutdown_timeout.
func cmdServe(ctx context.Context, args []string, io IO) error {
	fs, reissue, dev := serveFlags()
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	if *dev {
		var (
			cleanup   func()
			temporary bool
		)
		c, cleanup, temporary, err = devSetup(c, fs, io.Getenv, func(getenv func(string) string) (Config, error) {
			fs, _, _ := serveFlags()
			devIO := io
			devIO.Getenv = getenv
			c, _, err := parse(fs, args, devIO)
			return c, err
		})
		if err != nil {
			return err
		}
		defer cleanup()
		warnDev(io.Stderr, c, temporary)
	}
	c.Reissue = *reissue
	logger := newLogger(c, io.Stderr)
	if c.Dev {
		logger.Warn("DEVELOPMENT MODE: POST /dev/tokens mints tokens without credentials; never use --dev in production", "data_dir", c.DataDir)
	}
	n, err := Start(ctx, c, logger)
	if err != nil {
		return err
	}
	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case runErr = <-n.Err():
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.ShutdownTimeout))
	defer cancel()
	if err := n.Close(sctx); err != nil {
		return err
	}
	logger.Info("stopped")
	return runErr
}

// serveFlags returns the flag set of serve with its own flags.
func serveFlags() (fs *flag.FlagSet, reissue, dev *bool) {
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	reissue = fs.Bool("reissue", false, "with --nats-url: announce this instance's issuer as the cluster's new one (tokens of the old issuer stop being valid)")
	dev = fs.Bool("dev", false, "development mode: POST /dev/tokens mints tokens without credentials; loopback only; data in a temporary directory removed at exit unless --data-dir is given; never in production")
	return fs, reissue, dev
}
