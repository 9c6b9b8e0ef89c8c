package app

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// devBanner is printed to stderr, and logged at warn, on every start of
// `stamp serve --dev`.
const devBanner = `
************************************************************************
*  stamp serve --dev: DEVELOPMENT MODE. NOT FOR PRODUCTION.            *
*  POST /dev/tokens mints a valid access token for anyone who asks,    *
*  without credentials. The server listens on loopback only.           *
************************************************************************
`

// devSetup adjusts the configuration of `stamp serve --dev`: it refuses a
// non-loopback HTTP or NATS address and an external NATS server, and,
// unless the data directory (or the NATS port) was chosen explicitly,
// puts the data in a new temporary directory (and NATS on a random port).
// It returns the configuration, a cleanup that removes the temporary
// directory (a no-op otherwise) and whether there is one. reparse loads
// the configuration again with getenv, as parse did.
func devSetup(c Config, fs *flag.FlagSet, env func(string) string, reparse func(getenv func(string) string) (Config, error)) (_ Config, cleanup func(), temporary bool, _ error) {
	none := func() {}
	if c.NATSURL != "" {
		return c, none, false, usageErrorf("--dev runs the embedded NATS server with temporary storage: --nats-url is not allowed")
	}
	if err := requireLoopback("http_addr", c.HTTPAddr); err != nil {
		return c, none, false, err
	}
	if err := requireLoopback("nats_host", net.JoinHostPort(c.NATSHost, "0")); err != nil {
		return c, none, false, err
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	def := DefaultConfig()
	overrides := map[string]string{}
	if !explicit["data-dir"] && env("STAMP_DATA_DIR") == "" && c.DataDir == def.DataDir {
		dir, err := os.MkdirTemp("", "stamp-dev-")
		if err != nil {
			return c, none, false, fmt.Errorf("dev: temporary data directory: %w", err)
		}
		overrides["STAMP_DATA_DIR"] = dir
	}
	if !explicit["nats-port"] && env("STAMP_NATS_PORT") == "" && c.NATSPort == def.NATSPort {
		overrides["STAMP_NATS_PORT"] = strconv.Itoa(-1)
	}
	cleanup = none
	if dir := overrides["STAMP_DATA_DIR"]; dir != "" {
		cleanup = func() { _ = os.RemoveAll(dir) }
	}
	if len(overrides) > 0 {
		var err error
		c, err = reparse(func(k string) string {
			if v, ok := overrides[k]; ok {
				return v
			}
			return env(k)
		})
		if err != nil {
			cleanup()
			return c, none, false, err
		}
	}
	c.Dev = true
	return c, cleanup, overrides["STAMP_DATA_DIR"] != "", nil
}

// requireLoopback refuses a host:port whose host is not a loopback
// address or localhost (an empty host listens on every interface).
func requireLoopback(name, hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return usageErrorf("--dev: %s: %q is not host:port", name, hostport)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Unmap().IsLoopback() {
		return nil
	}
	return usageErrorf("--dev listens on loopback only: %s %q is not a loopback address (use 127.0.0.1 or [::1])", name, hostport)
}

// warnDev prints the banner and where the data lives.
func warnDev(w io.Writer, c Config, temporary bool) {
	fmt.Fprint(w, devBanner)
	if temporary {
		fmt.Fprintf(w, "*  data: %s (temporary: removed at exit)\n\n", c.DataDir)
	} else {
		fmt.Fprintf(w, "*  data: %s (kept: --data-dir was given)\n\n", c.DataDir)
	}
}
