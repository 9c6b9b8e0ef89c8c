package projections

import (
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// DefaultCacheSize is the block cache size Open uses when Options.CacheSize
// is zero. The cache stays resident once filled, and a store with a long
// history (the event index) fills it: 16 MiB holds the hot lookups' index
// and filter blocks and a share of the live tokens; the rest is read
// through the operating system's file cache.
const DefaultCacheSize int64 = 16 << 20

// Options configure a Store. The zero value is ready to use: a store on
// disk with the default cache and no logging.
type Options struct {
	// FS is the filesystem the store lives on; nil means the operating
	// system's disk. Tests use vfs.NewMem().
	FS vfs.FS
	// CacheSize is Pebble's block cache size in bytes; 0 means
	// DefaultCacheSize.
	CacheSize int64
	// Logger receives Pebble's messages and, at error level, each event
	// the store parks; nil discards them.
	Logger *slog.Logger
	// UserKeys opens users' sealed personal fields for the users model
	// (login by email); nil reads every sealed user as erased.
	UserKeys UserKeys
}

// Validate reports the first invalid option, as an error prefixed
// "projections:". Open calls it.
func (o Options) Validate() error {
	if o.CacheSize < 0 {
		return fmt.Errorf("projections: cache size %d is negative", o.CacheSize)
	}
	return nil
}

// withDefaults returns o with every zero field set to its default.
func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// pebbleLogger adapts a slog.Logger to pebble.Logger.
type pebbleLogger struct{ l *slog.Logger }

// Infof logs Pebble's routine messages (WAL recovery, compactions) at
// the debug level: they say nothing an operator acts on.
func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf must not return (Pebble relies on it): it logs, then panics rather
// than exit the process from a library.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := "pebble: " + fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic(msg)
}
