package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The command tree is github.com/spf13/cobra's: it gives every command its
// help (-h at every level), shell completion (stamp completion bash|zsh|
// fish) and one flag syntax. Each command still defines its flags on a
// standard flag.FlagSet and parses them with parse (main.go): the tree
// learns a command's flags by running it once in "declare" mode (parse
// hands the flag set over and returns errDeclared before anything
// happens), and runs it with the command's own arguments once cobra has
// accepted them. So a command is one function, whether run by the tree or
// by a test.

// errDeclared is what parse returns in declare mode: the command stops
// right after defining its flags.
var errDeclared = errors.New("flags declared")

// connectionSettings are the settings every command shows in its help:
// how it reaches the log. The other settings still apply (from the file,
// the environment, or their flags, hidden from the help of commands
// other than serve).
var connectionSettings = []string{"data-dir", "nats-url", "nats-user", "nats-password", "nats-creds", "nats-nkey"}

// leaf is one runnable command of the tree.
type leaf struct {
	path  string // "client create"
	use   string // the usage line after the path
	short string
	long  string
	run   func(context.Context, []string, IO) error
	// settings are the settings this command shows besides the
	// connection settings; all: every setting (serve).
	settings []string
	all      bool
	// groupUsage makes the command a group: without a sub-command it is a
	// usage error.
	group bool
	// valid are the completions of its first argument.
	valid []string
}

const rootLong = `stamp: an event-sourced OAuth2 authorization server.

Every setting can come from a STAMP_* environment variable, a JSON file
(--config, STAMP_CONFIG) or a flag: 'stamp serve -h' lists them all; the
other commands show their own flags and how they reach the log.`

func leaves() []leaf {
	return []leaf{
		{path: "serve", use: "[flags]", short: "run the server (embedded NATS unless --nats-url)", run: cmdServe, all: true},
		{path: "install", use: "[flags]", short: "prepare a data directory: the keys, the personal access and password clients (idempotent)", run: cmdInstall,
			settings: []string{"signing-algorithm", "private-key-file"}},
		{path: "keys", use: "[--force]", short: "create the signing key (--force replaces it; a running server signs with it after a restart); keys rotate: a new key without a restart", run: cmdKeys,
			settings: []string{"signing-algorithm", "private-key-file"}},
		{path: "keys rotate", use: "[flags]", short: "make a new signing key the current one; the running server switches at once, the old key stays in the JWKS until its tokens expire", run: cmdKeysRotate,
			settings: []string{"signing-algorithm", "private-key-file"}},
		{path: "client", short: "create | list | delete clients", group: true},
		{path: "client create", use: "[--client|--password|--personal|--device|--implicit|--public] --name NAME [--redirect URI ...] [--scopes a,b] [--audience URI ...] [--web-origin ORIGIN ...] [--json]", short: "register a client (as passport:client)", run: cmdClientCreate},
		{path: "client list", use: "[--all] [--json]", short: "list the clients", run: cmdClientList},
		{path: "client delete", use: "ID", short: "delete a client (its tokens stop being valid)", run: cmdClientDelete},
		{path: "user", short: "create | list | passwd | delete built-in users", group: true},
		{path: "user create", use: "--email E [--name N] [--password-stdin] [--json]", short: "create a user (password from a prompt or the first line of stdin)", run: cmdUserCreate},
		{path: "user list", use: "[--all] [--json]", short: "list the users", run: cmdUserList},
		{path: "user passwd", use: "ID|EMAIL [--password-stdin]", short: "change a user's password", run: cmdUserPasswd},
		{path: "user delete", use: "ID|EMAIL", short: "delete a user and erase their personal fields", run: cmdUserDelete},
		{path: "token", short: "personal access tokens", group: true},
		{path: "token create", use: "--user ID|EMAIL --name N [--scopes a,b] [--json]", short: "create a personal access token for a user (printed once)",
			run: func(ctx context.Context, args []string, io IO) error {
				return cmdToken(ctx, append([]string{"create"}, args...), io)
			}},
		{path: "events", use: "[--type T,..] [--client ID] [--user ID|EMAIL] [--token JTI] [--since T|--from SEQ] [--no-follow]", short: "tail the event stream as JSON lines", run: cmdEvents},
		{path: "audit", use: "token|client|user ID|EMAIL [--at TIME] [--json]", short: "what happened to a token, client or user, as of any time (a user by id or email)", run: cmdAudit,
			valid: []string{"token", "client", "user"}},
		{path: "purge", use: "[--revoked] [--expired] [--hours N]", short: "drop old revoked and expired tokens from the read models", run: cmdPurge},
		{path: "replay", use: "[--force]", short: "rebuild the read models from the log and swap them in", run: cmdReplay},
		{path: "listeners", use: "[--json]", short: "show the listeners' consumers and their parked events; listeners retry re-drives parked events", run: cmdListeners},
		{path: "listeners retry", use: "LISTENER (--event SEQ | --all)", short: "re-drive parked events of a listener (audited: ListenerRetryRequested)", run: cmdListenersRetry},
		{path: "verify", use: "[--public-key KEY]", short: "check the whole log: gaps, undecodable events, signatures", run: cmdVerify,
			settings: []string{"log-signing-key-file"}},
		{path: "bench", use: "[--url URL] [--duration D] [--concurrency N]", short: "measure issuance and introspection against a running server", run: cmdBench,
			settings: []string{"http-addr"}},
		{path: "nats", short: "credentials of the embedded NATS server's identities", group: true},
		{path: "nats credentials", use: "--role writer|reader|revocations [--context]", short: "print an identity's nkey seed, or a nats CLI context", run: cmdNatsCredentials,
			long: `Prints the nkey seed of one of the embedded NATS server's identities (the
content of <data-dir>/keys/nats-<role>.nk), or with --context a nats CLI
context (save it as ~/.config/nats/context/<name>.json). The seeds are
created on the server's first start, or here if it never started.`},
		{path: "version", short: "the version and commit of this binary (also --version)", run: cmdVersion},
	}
}

// runError is an error of a command's own run, as opposed to cobra's
// (unknown command or flag), which is a usage error.
type runError struct{ err error }

func (e runError) Error() string { return e.err.Error() }
func (e runError) Unwrap() error { return e.err }

// newRoot builds the command tree for one Main. args are Main's: a
// command runs with them minus the names of its path.
func newRoot(ctx context.Context, args []string, io IO) (*cobra.Command, error) {
	root := &cobra.Command{
		Use:           "stamp",
		Short:         "an event-sourced OAuth2 authorization server",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(io.Stdout)
	root.SetErr(io.Stderr)
	root.SetIn(io.Stdin)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	byPath := map[string]*cobra.Command{"": root}
	for _, l := range leaves() {
		words := strings.Fields(l.path)
		parent := byPath[strings.Join(words[:len(words)-1], " ")]
		cmd := &cobra.Command{
			Use:       words[len(words)-1] + " " + l.use,
			Short:     l.short,
			Long:      l.long,
			ValidArgs: l.valid,
			Args:      cobra.ArbitraryArgs,
			// the usage lines name the flags themselves
			DisableFlagsInUseLine: true,
		}
		if l.group {
			cmd.Use = words[len(words)-1]
			cmd.RunE = func(cmd *cobra.Command, pos []string) error {
				fmt.Fprint(io.Stderr, cmd.UsageString())
				if len(pos) == 0 {
					return usageErrorf("a sub-command is required")
				}
				return usageErrorf("unknown sub-command %q", pos[0])
			}
		} else {
			run := l.run
			cmd.RunE = func(*cobra.Command, []string) error {
				if err := run(ctx, withoutPath(args, words), io); err != nil {
					return runError{err}
				}
				return nil
			}
			if l.path != "version" {
				if err := declareFlags(cmd, l); err != nil {
					return nil, err
				}
			}
		}
		parent.AddCommand(cmd)
		byPath[l.path] = cmd
	}
	return root, nil
}

// declareFlags gives cmd the flags of l's command, hiding the settings
// that are not its own business from its help and completion.
func declareFlags(cmd *cobra.Command, l leaf) error {
	var fs *flag.FlagSet
	err := l.run(context.Background(), nil, IO{declare: func(f *flag.FlagSet) { fs = f }})
	if !errors.Is(err, errDeclared) || fs == nil {
		return fmt.Errorf("stamp %s: its flags cannot be declared: %v", l.path, err) // a programming error, found by TestCLIHelp
	}
	isSetting := map[string]bool{}
	for _, s := range settings() {
		isSetting[s.name] = true
	}
	shown := append(slices.Clone(connectionSettings), l.settings...)
	fs.VisitAll(func(f *flag.Flag) {
		cmd.Flags().AddGoFlag(f)
		if isSetting[f.Name] && !l.all && !slices.Contains(shown, f.Name) {
			_ = cmd.Flags().MarkHidden(f.Name)
		}
	})
	return nil
}

// withoutPath returns args without the first occurrence of each word of a
// command's path, in order: the command's own arguments and flags.
func withoutPath(args, path []string) []string {
	out := slices.Clone(args)
	for _, w := range path {
		if i := slices.Index(out, w); i >= 0 {
			out = slices.Delete(out, i, i+1)
		}
	}
	return out
}

// boolSetting is the flag of a boolean setting: --password-grant alone
// means true, --password-grant=false false. It keeps the text, which
// the settings table parses like the environment's.
type boolSetting struct{ v *string }

func (b boolSetting) String() string {
	if b.v == nil || *b.v == "" {
		return "false" // unset: the help shows no default
	}
	return *b.v
}

// Set keeps the text; configFlags.load checks it and names the flag.
func (b boolSetting) Set(s string) error {
	*b.v = s
	return nil
}

func (b boolSetting) IsBoolFlag() bool { return true }

// Type names the value in help: "bool" shows no argument.
func (b boolSetting) Type() string { return "bool" }

// joinBoolValues lets a boolean setting keep taking its value as the next
// argument, as when settings were all text flags: "--access-log false"
// becomes "--access-log=false". A boolean setting followed by a flag, or
// by nothing, means true ("--password-grant"). Arguments after "--" stay.
func joinBoolValues(args []string) []string {
	isBool := map[string]bool{}
	for _, s := range settings() {
		if s.isBool() {
			isBool[s.name] = true
		}
	}
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		if strings.HasPrefix(a, "-") && isBool[name] && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// Type names a repeatable flag's value in help.
func (s *stringList) Type() string { return "value" }

var _ pflag.Value = boolSetting{}
