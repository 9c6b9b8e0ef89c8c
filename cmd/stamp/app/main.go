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
	// declare, when set, makes parse hand over the command's flag set
	// and stop the command (see cli.go).
	declare func(*flag.FlagSet)
}

// Main runs one command and returns the process exit code: 0 on success,
// 2 for a usage error, 1 for any other failure (printed to Stderr). The
// commands and their help are cobra's (see cli.go).
func Main(ctx context.Context, args []string, io IO) int {
	if io.Getenv == nil {
		io.Getenv = func(string) string { return "" }
	}
	if len(args) == 1 && args[0] == "--version" {
		args = []string{"version"}
	}
	args = joinBoolValues(args)
	root, err := newRoot(ctx, args, io)
	if err != nil {
		fmt.Fprintf(io.Stderr, "stamp: %v\n", err)
		return 1
	}
	if len(args) == 0 {
		root.SetOut(io.Stderr)
		_ = root.Help()
		return 2
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	name := "stamp"
	if cmd != nil && cmd != root {
		name = "stamp " + strings.Fields(strings.TrimPrefix(cmd.CommandPath(), "stamp "))[0]
	}
	var re runError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &re) && !errors.As(err, &ue):
		fmt.Fprintf(io.Stderr, "%s: %v\n", name, re.err)
		return 1
	default:
		fmt.Fprintf(io.Stderr, "%s: %v\n", name, err)
		if cmd == root || cmd == nil {
			fmt.Fprintln(io.Stderr, "Run 'stamp --help' for the commands.")
		}
		return 2
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
	if io.declare != nil {
		io.declare(fs)
		return Config{}, nil, errDeclared
	}
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
	stopRuntime, err := applyRuntime(c.RuntimeConfig, logger) // see config_runtime.go
	if err != nil {
		return err
	}
	defer stopRuntime()
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
