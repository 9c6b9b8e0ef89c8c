package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// cliLog is the event log as a CLI command reaches it: through the NATS
// server of a running `stamp serve` on the same data directory, through
// the external NATS of --nats-url, or else by starting the embedded server
// on the data directory for the length of the command. Read models belong
// to the server; the CLI reads the log itself, and a server catches up on
// what the CLI appended (live if it is running, at its next start if not).
type cliLog struct {
	*eventstore.Store
	server *eventstore.Server
}

func openCLILog(ctx context.Context, c Config, logger *slog.Logger) (*cliLog, error) {
	if c.NATSURL == "" {
		if info, err := readServeInfo(c); err == nil && info.NATSURL != "" {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			store, err := eventstore.Open(cctx, eventstore.Options{
				URL: info.NATSURL, User: c.NATSUser, Password: c.NATSPassword, Replicas: c.Replicas,
			})
			cancel()
			if err == nil {
				return &cliLog{Store: store}, nil
			}
			logger.Debug("the server in serve.json is not reachable; opening the store", "url", info.NATSURL, "err", err)
		}
	}
	srv, store, err := openEventStore(ctx, c, logger, -1)
	if errors.Is(err, eventstore.ErrStoreLocked) {
		return nil, errors.New("the data directory is in use by a server whose NATS address is unknown; run the command with --nats-url")
	}
	if err != nil {
		return nil, err
	}
	return &cliLog{Store: store, server: srv}, nil
}

func (l *cliLog) Close() {
	l.Store.Close()
	if l.server != nil {
		l.server.Shutdown()
	}
}

func readServeInfo(c Config) (serveInfo, error) {
	var info serveInfo
	b, err := os.ReadFile(serveInfoPath(c))
	if err != nil {
		return info, err
	}
	return info, json.Unmarshal(b, &info)
}

// noWait is the CLI's Waiter: the CLI keeps no read models, so there is
// nothing local to wait for once the log has acknowledged an append.
type noWait struct{}

func (noWait) WaitFor(context.Context, uint64) error { return nil }

// cliService returns an application service over the log alone, for the
// commands that decide on aggregates loaded from the log.
func cliService(c Config, l *cliLog) (*domain.Service, error) {
	return newService(c, domain.Ports{Log: l, Wait: noWait{}}, nil)
}
