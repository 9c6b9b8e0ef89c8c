package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

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
	return newService(c, domain.Ports{Log: l, Wait: noWait{}, Keys: logKeys{l}, UserKeys: l.keys}, nil)
}

// logKeys is a domain.KeyReader over the log, for CLI commands that decide
// on keys while the read models belong to a server.
type logKeys struct{ l *cliLog }

func (k logKeys) SigningKeys(ctx context.Context) ([]domain.SigningKey, error) {
	w, err := foldLog(ctx, k.l, domain.KindKey)
	if err != nil {
		return nil, err
	}
	return w.SigningKeys(ctx)
}

// logWorld serves clients and users folded from the log, for CLI commands
// that read them while the read models belong to a server.
type logWorld struct{ w domain.World }

func foldLog(ctx context.Context, l *cliLog, kinds ...string) (logWorld, error) {
	var recs []domain.Recorded
	for _, k := range kinds {
		if err := l.Replay(ctx, 0, domain.SubjectRoot+"."+k+".>", func(r domain.Recorded) error {
			recs = append(recs, r)
			return nil
		}); err != nil {
			return logWorld{}, err
		}
	}
	recs, err := revealRecords(ctx, l.keys, recs)
	if err != nil {
		return logWorld{}, err
	}
	w, _, err := domain.FoldWorld(recs, time.Time{})
	return logWorld{w}, err
}

func (v logWorld) Client(_ context.Context, id string) (domain.Client, error) {
	if c, ok := v.w.Clients[id]; ok {
		return c, nil
	}
	return domain.Client{}, domain.ErrNotFound
}

func (v logWorld) Clients(context.Context) ([]domain.Client, error) {
	out := make([]domain.Client, 0, len(v.w.Clients))
	for _, c := range v.w.Clients {
		out = append(out, c)
	}
	return out, nil
}

func (v logWorld) SigningKeys(context.Context) ([]domain.SigningKey, error) {
	out := make([]domain.SigningKey, 0, len(v.w.Keys))
	for _, k := range v.w.Keys {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b domain.SigningKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

func (v logWorld) User(_ context.Context, id string) (domain.User, error) {
	if u, ok := v.w.Users[id]; ok {
		return u, nil
	}
	return domain.User{}, domain.ErrNotFound
}

func (v logWorld) UserByEmail(_ context.Context, email string) (domain.User, error) {
	for _, u := range v.w.Users {
		if u.Exists() && u.Email != domain.Erased && u.Email == domain.NormalizeEmail(email) {
			return u, nil
		}
	}
	return domain.User{}, domain.ErrNotFound
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
	w, err := foldLog(ctx, l, domain.KindClient, domain.KindUser)
	if err != nil {
		return nil, err
	}
	return newService(c, domain.Ports{Log: l, Wait: noWait{}, Keys: logKeys{l}, Clients: w, Users: w, UserKeys: l.keys}, signer)
}
