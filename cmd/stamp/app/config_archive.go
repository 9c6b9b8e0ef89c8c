package app

import (
	"context"
	"fmt"
	"time"

	"github.com/stamp-oauth/stamp/eventstore"
)

// ArchiveConfig are the settings of the log's storage: compression and the
// hot window (see eventstore's archive.go and archiver.go, and the
// README's "Hot window and archive").
type ArchiveConfig struct {
	// StreamCompression is "s2" (the default) or "none", for STAMP and
	// STAMP_ARCHIVE.
	StreamCompression string `json:"stream_compression"`
	// LogHotWindow is how long events stay in the hot stream STAMP before
	// the archiver drops them (they stay in STAMP_ARCHIVE). Zero means
	// the longest token or session lifetime configured, at least
	// DefaultLogHotWindow; a set value below that longest lifetime is
	// refused.
	LogHotWindow Duration `json:"log_hot_window"`
	// LogArchiveInterval is the period of the archiver's passes.
	LogArchiveInterval Duration `json:"log_archive_interval"`
	// NATSArchiverNkey is the nkey seed file of the archiver identity on
	// an external NATS (with NATSURL only): when set, serve runs the
	// archiver over a connection of its own as that identity. Empty: no
	// archiver on a cluster, STAMP keeps every event.
	NATSArchiverNkey string `json:"nats_archiver_nkey"`
}

// Defaults of ArchiveConfig.
const (
	DefaultLogHotWindow       = 7 * 24 * time.Hour
	DefaultLogArchiveInterval = time.Minute
	compressionS2             = "s2"
	compressionNone           = "none"
)

func defaultArchiveConfig() ArchiveConfig {
	return ArchiveConfig{StreamCompression: compressionS2, LogArchiveInterval: Duration(DefaultLogArchiveInterval)}
}

// archiveSettings are ArchiveConfig's rows of the settings table; the
// arguments are settings' parsers.
func archiveSettings(
	str func(func(*Config) *string) func(*Config, string) error,
	dur func(func(*Config) *Duration) func(*Config, string) error,
) []setting {
	return []setting{
		{"stream-compression", "s2 or none: compression of the STAMP stream and its archive STAMP_ARCHIVE (an existing stream is updated; what is already written stays as it is)", str(func(c *Config) *string { return &c.StreamCompression })},
		{"log-hot-window", "how long events stay in the hot stream STAMP before the archiver drops them, once STAMP_ARCHIVE holds them (audit, events and replay read both); at least the longest token or session lifetime (default: that lifetime, at least 7 days)", dur(func(c *Config) *Duration { return &c.LogHotWindow })},
		{"log-archive-interval", "how often the archiver drops archived events older than the hot window from the hot stream", dur(func(c *Config) *Duration { return &c.LogArchiveInterval })},
		{"nats-archiver-nkey", "nkey seed file of the archiver identity (with --nats-url; ARCHIVER in deploy/nats/stamp-accounts.conf): serve then drops archived events older than the hot window from STAMP on the cluster too (default: none, STAMP keeps every event)", str(func(c *Config) *string { return &c.NATSArchiverNkey })},
	}
}

// longestLifetime returns the longest lifetime of anything c issues that a
// reader of the hot stream may need the history of, and its setting.
func (c *Config) longestLifetime() (time.Duration, string) {
	longest, name := time.Duration(0), ""
	for _, d := range []struct {
		name string
		v    Duration
	}{
		{"access_token_ttl", c.AccessTokenTTL}, {"client_credentials_ttl", c.ClientCredentialsTTL},
		{"refresh_token_ttl", c.RefreshTokenTTL}, {"personal_access_token_ttl", c.PersonalAccessTTL},
		{"session_ttl", c.SessionTTL},
	} {
		if time.Duration(d.v) > longest {
			longest, name = time.Duration(d.v), d.name
		}
	}
	return longest, name
}

// validateArchive checks c's ArchiveConfig, naming the bad setting. The
// lifetimes must have been validated.
func (c *Config) validateArchive() error {
	if c.StreamCompression != compressionS2 && c.StreamCompression != compressionNone {
		return fmt.Errorf("config: stream_compression: want %s or %s, got %q", compressionS2, compressionNone, c.StreamCompression)
	}
	if c.LogArchiveInterval <= 0 {
		return fmt.Errorf("config: log_archive_interval: must be positive")
	}
	if c.NATSArchiverNkey != "" && c.NATSURL == "" {
		return fmt.Errorf("config: nats_archiver_nkey: only with nats_url: the embedded NATS server runs its own archiver")
	}
	longest, name := c.longestLifetime()
	switch {
	case c.LogHotWindow < 0:
		return fmt.Errorf("config: log_hot_window: must not be negative")
	case c.LogHotWindow > 0 && time.Duration(c.LogHotWindow) < longest:
		return fmt.Errorf("config: log_hot_window: %s is shorter than %s (%s): a token must not outlive the events that revoke it in the hot stream",
			time.Duration(c.LogHotWindow), name, longest)
	}
	return nil
}

// hotWindow is the hot window c sets, or the one it implies: the longest
// lifetime, at least DefaultLogHotWindow. Derived here rather than in
// Validate, so that a configuration whose lifetimes change later (the
// CLI takes the running server's) does not keep a stale window.
func (c *Config) hotWindow() time.Duration {
	if c.LogHotWindow > 0 {
		return time.Duration(c.LogHotWindow)
	}
	longest, _ := c.longestLifetime()
	return max(DefaultLogHotWindow, longest)
}

// startArchiver starts the archiver with c's hot window, until ctx ends:
// the embedded server's, or on a NATS cluster (--nats-url) the one of
// --nats-archiver-nkey, over a connection of its own; without that
// setting a cluster has none (the archive receives every event, the hot
// stream keeps them). Every instance given the archiver identity runs it:
// a pass is idempotent (see eventstore.RemoteArchiver). It fails when the
// archiver cannot connect.
func (n *Node) startArchiver(ctx context.Context) error {
	opts := eventstore.ArchiverOptions{
		Window: n.cfg.hotWindow(), Every: time.Duration(n.cfg.LogArchiveInterval), Logger: n.logger,
	}
	var run func(context.Context, eventstore.ArchiverOptions) error
	var closeConn func()
	switch {
	case n.nats != nil:
		run = n.nats.RunArchiver
	case n.cfg.NATSArchiverNkey != "":
		a, err := eventstore.DialArchiver(n.cfg.NATSURL, n.cfg.NATSArchiverNkey, n.logger)
		if err != nil {
			return fmt.Errorf("nats_archiver_nkey: %w", err)
		}
		run, closeConn = a.Run, a.Close
	default:
		return nil
	}
	n.done.Add(1)
	go func() {
		defer n.done.Done()
		if closeConn != nil {
			defer closeConn()
		}
		_ = run(ctx, opts)
	}()
	return nil
}
