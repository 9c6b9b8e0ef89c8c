package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stamp-oauth/stamp/eventstore"
)

// natsContext is a context file of the nats CLI (github.com/nats-io/natscli).
type natsContext struct {
	Description string `json:"description"`
	URL         string `json:"url"`
	Nkey        string `json:"nkey"`
	InboxPrefix string `json:"inbox_prefix,omitempty"`
}

func cmdNatsCredentials(_ context.Context, args []string, io IO) error {
	fs := flag.NewFlagSet("nats credentials", flag.ContinueOnError)
	role := fs.String("role", "", "writer, reader or revocations (required)")
	asContext := fs.Bool("context", false, "print a nats CLI context (JSON: url and nkey file) instead of the seed")
	c, pos, err := parse(fs, args, io)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("unexpected argument %q", pos[0])
	}
	r := eventstore.Role(*role)
	if !r.Valid() {
		return usageErrorf("--role %q: want writer, reader or revocations", *role)
	}
	if c.NATSURL != "" {
		return errors.New("with --nats-url the NATS server is not stamp's: its operator issues the credentials (README, \"NATS identities\", shows the permissions each role needs)")
	}
	if _, err := eventstore.EnsureSeeds(natsKeysDir(c)); err != nil {
		return err
	}
	path := natsSeedFile(c, r)
	if !*asContext {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = io.Stdout.Write(b)
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(natsContext{
		Description: "stamp " + string(r) + " (" + c.DataDir + ")",
		URL:         embeddedNATSURL(c),
		Nkey:        abs,
		InboxPrefix: r.InboxPrefix(),
	}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(io.Stdout, "%s\n", b)
	return err
}

// embeddedNATSURL is the client URL of the embedded server: the running
// server's (serve.json), else the configured host and port.
func embeddedNATSURL(c Config) string {
	if info, err := readServeInfo(c); err == nil && info.NATSURL != "" {
		return info.NATSURL
	}
	host := c.NATSHost
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(c.NATSPort))
}

// natsKeysDir is where the embedded server's identities keep their seeds.
func natsKeysDir(c Config) string { return filepath.Join(c.DataDir, "keys") }

// natsSeedFile is role's seed file in natsKeysDir.
func natsSeedFile(c Config, role eventstore.Role) string {
	return filepath.Join(natsKeysDir(c), eventstore.SeedFileName(role))
}

// validateNATSCredentials checks the credentials stamp connects with. With
// the embedded server it uses the writer seed in natsKeysDir, so the
// settings for an external NATS make no sense there.
func (c *Config) validateNATSCredentials() error {
	var set []string
	for _, s := range []struct{ name, v string }{
		{"nats_user", c.NATSUser}, {"nats_password", c.NATSPassword}, {"nats_creds", c.NATSCreds}, {"nats_nkey", c.NATSNkey},
	} {
		if s.v != "" {
			set = append(set, s.name)
		}
	}
	switch {
	case len(set) > 0 && c.NATSURL == "":
		return fmt.Errorf("config: %s: only with nats_url: the embedded NATS server takes the nkeys in %s", set[0], natsKeysDir(*c))
	case (c.NATSUser == "") != (c.NATSPassword == ""):
		return errors.New("config: nats_user: nats_user and nats_password go together")
	case c.NATSCreds != "" && c.NATSNkey != "":
		return errors.New("config: nats_nkey: nats_creds and nats_nkey are exclusive")
	case c.NATSUser != "" && (c.NATSCreds != "" || c.NATSNkey != ""):
		return fmt.Errorf("config: nats_user: exclusive with %s", strings.Join(set[2:], " and "))
	}
	return nil
}

// NATSSeedFile returns the seed file of role on the node's embedded NATS
// server, or "" when the node uses an external NATS (--nats-url).
func (n *Node) NATSSeedFile(role eventstore.Role) string {
	if n.nats == nil {
		return ""
	}
	return n.nats.SeedFile(role)
}
