package app

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"
	"strings"
)

// cmdVersion prints what versionText says of the running binary. It
// takes no settings and needs no data directory.
func cmdVersion(_ context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	info, _ := debug.ReadBuildInfo() // nil without build information
	fmt.Fprint(io.Stdout, versionText(info))
	return nil
}

// versionText describes a build: the module's version ("(devel)" for a
// build from a work tree), the VCS commit with its time and whether the
// tree had uncommitted changes (from the build settings vcs.revision,
// vcs.time and vcs.modified, which go build records in a checkout
// unless -buildvcs=false), and the Go version. Missing facts read
// "unknown". One fact per line, "name value".
func versionText(info *debug.BuildInfo) string {
	if info == nil {
		return "stamp unknown\ncommit unknown\ngo unknown\n"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	commit := settings["vcs.revision"]
	if commit == "" {
		commit = "unknown"
	}
	if settings["vcs.modified"] == "true" {
		commit += " (modified)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "stamp %s\n", version)
	fmt.Fprintf(&b, "commit %s\n", commit)
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(&b, "commit time %s\n", t)
	}
	goVersion := info.GoVersion
	if goVersion == "" {
		goVersion = "unknown"
	}
	fmt.Fprintf(&b, "go %s\n", goVersion)
	return b.String()
}
