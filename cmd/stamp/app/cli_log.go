package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"os"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/clilog"
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
	keys   *cliUserKeys // see personal.go
	// info is the serve.json of the running server the CLI reached, or
	// nil when it opened the store or used --nats-url.
	info *serveInfo
	// cfg is the configuration the command acts on (withCLIService sets
	// it): its own, with the server's settings in place of its own.
	cfg Config
}

func openCLILog(ctx context.Context, c Config, logger *slog.Logger) (*cliLog, error) {
	var serveErr error // why the server of serve.json did not do
	if c.NATSURL == "" {
		if info, err := readServeInfo(c); err == nil && info.NATSURL != "" {
			logKey, err := loadLogSigningKey(c)
			if err != nil {
				return nil, err
			}
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			store, err := eventstore.Open(cctx, eventstore.Options{
				URL: info.NATSURL, NkeySeedFile: natsSeedFile(c, eventstore.RoleWriter), Replicas: c.Replicas,
				LogKey: logKey, Logger: logger, NoCompression: c.StreamCompression == compressionNone,
			})
			cancel()
			if err == nil {
				return &cliLog{Store: store, keys: &cliUserKeys{c: c, store: store}, info: &info}, nil
			}
			logger.Debug("the server in serve.json is not reachable; opening the store", "url", info.NATSURL, "err", err)
			serveErr = err
		}
	}
	srv, store, err := openEventStore(ctx, c, logger, -1)
	if errors.Is(err, eventstore.ErrStoreLocked) && serveErr != nil {
		return nil, fmt.Errorf("the data directory is in use by a running server, whose NATS server (serve.json) did not let this command in: %w", serveErr)
	}
	if errors.Is(err, eventstore.ErrStoreLocked) {
		return nil, errors.New("the data directory is in use by a server whose NATS address is unknown; run the command with --nats-url")
	}
	if err != nil {
		return nil, err
	}
	return &cliLog{Store: store, server: srv, keys: &cliUserKeys{c: c, store: store}}, nil
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
	return newService(c, domain.Ports{Log: l, Wait: noWait{}, Keys: clilog.Keys{Log: l, UserKeys: l.keys}, UserKeys: l.keys}, nil)
}

// signingCLIService is cliService with the signing key and the clients and
// users of the log, for the CLI commands that issue tokens.
func signingCLIService(ctx context.Context, c Config, l *cliLog) (*domain.Service, error) {
	key, err := loadSigningKey(c)
	if err != nil {
		return nil, err
	}
	signer, err := domain.NewTokenSigner(key)
	if err != nil {
		return nil, err
	}
	w, err := clilog.Fold(ctx, l, l.keys, domain.KindClient, domain.KindUser)
	if err != nil {
		return nil, err
	}
	return newService(c, domain.Ports{Log: l, Wait: noWait{}, Keys: clilog.Keys{Log: l, UserKeys: l.keys}, Clients: w, Users: w, UserKeys: l.keys}, signer)
}
