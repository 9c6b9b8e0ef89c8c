package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// RemoteArchiver is the archiver of an external NATS (a cluster stamp
// reaches by Options.URL): the passes of Server.Archive over a connection
// of its own, as an identity the operator provisions with
// ArchiverPermissions (deploy/nats/stamp-accounts.conf, user ARCHIVER), so
// that the writer, the readers and the resource servers still cannot purge
// the log.
//
// Several stamp instances may each run one on the same streams: a pass
// purges by sequence up to a bound that never passes the last event the
// archive holds nor the first event inside the window, so two passes at
// once, or one after the other, drop the same events at most once and
// never an event the archive lacks (a purge below the stream's first
// sequence drops nothing).
type RemoteArchiver struct {
	nc *nats.Conn
}

// ErrArchiverSeed is returned (wrapped) by DialArchiver for a seed file
// that cannot be read as an nkey seed.
var ErrArchiverSeed = errors.New("eventstore: archiver: unusable nkey seed file")

// DialArchiver connects to the NATS servers of url (comma-separated, as
// Options.URL) as the archiver identity whose nkey seed is in seedFile,
// reconnecting forever once connected. It fails when the seed cannot be
// read (ErrArchiverSeed) or the servers refuse the connection. Its
// asynchronous errors (a refused permission) go to logger at warning
// level; nil discards them. The caller must call Close.
func DialArchiver(url, seedFile string, logger *slog.Logger) (*RemoteArchiver, error) {
	nk, err := nats.NkeyOptionFromSeed(seedFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrArchiverSeed, seedFile, err)
	}
	nc, err := nats.Connect(url, nk, nats.Name("stamp-archiver"), nats.CustomInboxPrefix(ArchiverInboxPrefix),
		nats.MaxReconnects(-1), nats.ErrorHandler(asyncErrors(logger)))
	if err != nil {
		return nil, fmt.Errorf("eventstore: archiver: connect: %w", err)
	}
	return &RemoteArchiver{nc: nc}, nil
}

// Archive runs one archiver pass, as Server.Archive does.
func (a *RemoteArchiver) Archive(ctx context.Context, window time.Duration, now time.Time) (ArchivePass, error) {
	return archiveOn(ctx, a.nc, window, now)
}

// Run runs an archiver pass every opts.Every until ctx ends, as
// Server.RunArchiver does, then returns nil. It does not close a.
func (a *RemoteArchiver) Run(ctx context.Context, opts ArchiverOptions) error {
	return runArchiver(ctx, opts, a.Archive)
}

// Close closes the archiver's connection.
func (a *RemoteArchiver) Close() { a.nc.Close() }
