package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stamp-oauth/stamp/cmd/stamp/internal/freshness"
	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
	"github.com/stamp-oauth/stamp/httpapi"
	"github.com/stamp-oauth/stamp/projections"
)

// Node is one running stamp server: the event store (embedded or
// external), the read models and their runner, the application service and
// the HTTP server. Tests start one in-process with Start and stop it with
// Close.
type Node struct {
	cfg    Config
	logger *slog.Logger

	nats   *eventstore.Server // nil with an external NATS
	store  *eventstore.Store
	views  *projections.Store
	runner *projections.Runner
	health *health
	svc    *domain.Service
	keys   *eventstore.UserKeys // the users' personal-data keys
	shared clusterState         // rate limits and device polls, see cluster_state.go
	obs    *observability       // metrics and tracing, see observe.go

	httpServer *http.Server
	listener   net.Listener

	cancelRunner context.CancelFunc
	done         sync.WaitGroup
	runnerErr    chan error
	closeOnce    sync.Once
	closeErr     error

	// replay: see cmd_replay.go.
	instance string         // random id of this node, in serve.json
	replay   *replayControl // answers stamp replay
}

// serveInfo is written to <data-dir>/serve.json while a server runs, so the
// CLI on the same data directory talks to its NATS server instead of
// opening the store itself.
type serveInfo struct {
	PID     int    `json:"pid"`
	NATSURL string `json:"nats_url"`
	HTTPURL string `json:"http_url"`
	// Instance names the node's control subjects (see cmd_replay.go).
	Instance string `json:"instance,omitempty"`
	// Settings are the server's effective settings, which the CLI acts
	// on instead of its own (see server_settings.go).
	Settings *domain.ServerConfigured `json:"settings,omitempty"`
}

func serveInfoPath(c Config) string { return filepath.Join(c.DataDir, "serve.json") }

// Start opens everything and begins serving HTTP. It returns once the read
// models have caught up with the log and the listener is bound. On error
// it returns a nil Node and the cause (a busy port, an unusable data
// directory, …), after closing everything it had opened, so that the
// ports, the store lock and serve.json are free again.
func Start(ctx context.Context, cfg Config, logger *slog.Logger) (_ *Node, err error) {
	// n is not the named result: every failure returns a nil Node, and
	// the deferred close needs the one being built.
	n := &Node{cfg: cfg, logger: logger, runnerErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			if cerr := n.shutdown(context.Background()); cerr != nil {
				logger.Warn("closing after a failed start", "err", cerr)
			}
		}
	}()
	if err := requireClusterIssuer(cfg); err != nil { // see issuer.go
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if n.nats, n.store, err = openEventStore(ctx, cfg, logger, cfg.NATSPort); err != nil {
		return nil, err
	}
	if n.keys, err = openUserKeys(ctx, cfg, n.store); err != nil {
		return nil, err
	}
	n.shared = openClusterState(ctx, n.store, logger)
	last, err := lastSeq(ctx, n)
	if err != nil {
		return nil, err
	}
	// A data directory without read models is seeded from the newest
	// snapshot and the checkpointed log (node_seed.go).
	seedViews(ctx, projectionsDir(cfg), last, cfg, n.store, n.keys, logger)
	if n.views, err = openTrustedViews(projectionsDir(cfg), last, cfg, cfg.viewOptions(logger, n.keys)); err != nil { // see node_integrity.go
		return nil, err
	}
	n.runner = projections.NewRunner(n.views, n.store, logger)
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancelRunner = cancel
	n.done.Add(1)
	go func() {
		defer n.done.Done()
		if err := n.runner.Run(runCtx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("projections stopped", "err", err)
			n.runnerErr <- err
		}
	}()
	if err := n.catchUp(ctx); err != nil {
		return nil, err
	}
	n.health = newHealth(n.store, n.runner, cfg.ReadyMaxLag, cfg.ReadConsistency == consistencyLocal, logger)
	n.health.refresh(ctx)
	n.done.Add(1)
	go func() {
		defer n.done.Done()
		n.health.run(runCtx)
	}()
	if !cfg.SnapshotInterval.Off() {
		n.done.Add(1)
		go func() {
			defer n.done.Done()
			n.takeSnapshots(runCtx, cfg.SnapshotInterval) // see snapshots.go
		}()
	}

	key, generated, err := ensureSigningKey(cfg)
	if err != nil {
		return nil, err
	}
	signer, err := domain.NewTokenSigner(key)
	if err != nil {
		return nil, err
	}
	if generated {
		logger.Info("generated a signing key", "file", cfg.PrivateKeyFile, "kid", signer.KeyID(), "alg", signer.Algorithm())
	}
	if n.obs, err = startObservability(ctx, cfg.ObserveConfig, n.store, n.runner, logger); err != nil {
		return nil, err
	}
	ports := domain.Ports{
		Log: indexedLog{Store: n.store, views: n.views, runner: n.runner, wait: time.Duration(n.cfg.ProjectionWaitTimeout)}, Wait: n.runner, Clients: n.views, Tokens: n.views, Keys: n.views,
		Users: n.views, Grants: n.views, Sessions: n.views, Limiter: n.shared.limiter, UserKeys: n.keys,
		DevicePolls: n.shared.polls,
	}
	if cfg.ReadConsistency != consistencyLocal {
		ports.Freshness = freshness.New(n.store, n.runner, time.Duration(cfg.FreshnessTimeout), logger)
	}
	if ports.PasswordHook, err = cfg.passwordHook(); err != nil { // see password_hook.go
		return nil, err
	}
	if n.svc, err = newService(cfg, n.obs.wrapPorts(ports), signer); err != nil {
		return nil, err
	}
	if _, err := n.svc.AnnounceSigningKey(ctx, domain.Actor{Kind: domain.ActorSystem}, key); err != nil {
		return nil, fmt.Errorf("announce signing key: %w", err)
	}
	if err := announceSettings(ctx, n.svc, cfg, logger); err != nil { // see issuer.go
		return nil, err
	}
	if last, err = n.store.LastSeq(ctx); err != nil {
		return nil, err
	}
	n.done.Add(2)
	go func() {
		defer n.done.Done()
		n.watchKeys(runCtx, last+1)
	}()
	n.done.Add(1)
	go func() {
		defer n.done.Done()
		n.watchIssuer(runCtx, last+1) // see issuer.go
	}()
	go func() {
		defer n.done.Done()
		if err := runListeners(runCtx, cfg.Listeners, n.store, n.svc, n.views, n.runner, logger); err != nil && runCtx.Err() == nil {
			logger.Error("listeners stopped", "err", err)
		}
	}()
	if err := n.startArchiver(runCtx); err != nil { // see config_archive.go
		return nil, err
	}
	n.startCheckpoints(runCtx) // see node_checkpoint.go
	n.done.Add(1)
	go func() {
		defer n.done.Done()
		n.verifyNewTables(runCtx) // see node_integrity.go
	}()

	sealing, err := loadSealingKey(cfg)
	if err != nil {
		return nil, err
	}
	proxies, _ := cfg.trustedProxies() // validated
	var accessLog *slog.Logger
	if cfg.AccessLog {
		accessLog = logger
	}
	deps := httpapi.Deps{Service: n.obs.service(n.svc), Keys: n.views, Web: n.svc, Users: n.views, API: n.svc, Validator: n.svc, Origins: n.views}
	if cfg.Dev {
		deps.Dev = n.svc // see dev.go
	}
	deps.Admin = nodeAdmin{Service: n.svc, store: n.store, keys: n.keys} // see admin.go
	deps.Delegation = n.svc                                              // see delegation.go
	handler, err := httpapi.New(deps, n.obs.httpOptions(httpapi.Options{
		Issuer: cfg.Issuer, GrantTypes: enabledGrants(cfg), Logger: logger,
		SessionKey: sessionKey(sealing), SessionLifetime: time.Duration(cfg.SessionTTL),
		TrustedProxies: proxies,
		LogKeys:        httpLogKeys(n.store.LogSigning()),
		Health:         n.health, ServeStale: cfg.ServeStale,
		AccessLog:           accessLog,
		VerifyAcceptsCookie: cfg.VerifyAcceptsCookie,
		BenchCeiling:        cfg.BenchCeilingRoute || cfg.Dev,
		LoginURL:            cfg.LoginURL, ConsentURL: cfg.ConsentURL,
	}))
	if err != nil {
		return nil, err
	}
	if n.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("http_addr: %w", err)
	}
	n.httpServer = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	n.done.Add(1)
	go func() {
		defer n.done.Done()
		if err := n.httpServer.Serve(n.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "err", err)
		}
	}()
	if err := n.serveReplay(); err != nil { // see cmd_replay.go
		return nil, err
	}
	if _, err := n.serveParked(); err != nil { // see node_logsign.go; ends with the store
		return nil, fmt.Errorf("serve parked events: %w", err)
	}
	if _, err := n.serveEvents(); err != nil { // see token_history.go; ends with the store
		return nil, fmt.Errorf("serve the event index: %w", err)
	}
	if err := n.writeServeInfo(); err != nil {
		return nil, err
	}
	logger.Info("stamp is serving", "http", n.HTTPURL(), "issuer", cfg.Issuer, "nats", n.NATSURL(), "kid", signer.KeyID(), "alg", signer.Algorithm())
	return n, nil
}

// watchKeys follows the key events from sequence from and, after each,
// reloads the key file: when `stamp keys rotate` has put a new key there
// and announced it, the node signs with it from then on, without a
// restart. Every instance sharing the key file switches the same way.
func (n *Node) watchKeys(ctx context.Context, from uint64) {
	filter := domain.SubjectRoot + "." + domain.KindKey + ".>"
	err := n.store.Read(ctx, eventstore.ReadOptions{From: from, Filter: filter, Follow: true}, func(r domain.Recorded) error {
		n.reloadSigner(ctx, r.Seq)
		return nil
	})
	if err != nil && ctx.Err() == nil {
		n.logger.Error("key watcher stopped; rotations need a restart", "err", err)
	}
}

func (n *Node) reloadSigner(ctx context.Context, seq uint64) {
	key, err := loadSigningKey(n.cfg)
	if err != nil {
		n.logger.Warn("reload signing key", "err", err)
		return
	}
	signer, err := domain.NewTokenSigner(key)
	if err != nil || signer.KeyID() == n.svc.Signer().KeyID() {
		return
	}
	if err := n.runner.WaitFor(ctx, seq); err != nil {
		return
	}
	keys, err := n.views.SigningKeys(ctx)
	if err != nil {
		n.logger.Warn("reload signing key", "err", err)
		return
	}
	for _, k := range keys {
		if k.ID == signer.KeyID() && !k.Retired {
			n.svc.SetSigner(signer)
			n.logger.Info("signing with the rotated key", "kid", signer.KeyID(), "alg", signer.Algorithm())
			return
		}
	}
}

// openViews opens the read models. Read models of an older layout are
// deleted and rebuilt from the log (the runner replays from the start):
// they are derived data, and the log is the truth.
func openViews(dir string, opts projections.Options) (*projections.Store, error) {
	views, err := projections.Open(dir, opts)
	if !errors.Is(err, projections.ErrLayout) {
		return views, err
	}
	opts.Logger.Warn("the read models have an older layout; rebuilding them from the log", "dir", dir)
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	return projections.Open(dir, opts)
}

// viewOptions are the options of the node's read models, live and
// rebuilt alike (a swap reopens the rebuild with them).
func (c Config) viewOptions(logger *slog.Logger, keys projections.UserKeys) projections.Options {
	return projections.Options{Logger: logger, UserKeys: keys, CacheSize: int64(c.ReadModelCache)}
}

// catchUp waits until the read models have applied everything the log
// held when the node started, so the first request reads current state.
func (n *Node) catchUp(ctx context.Context) error {
	last, err := n.store.LastSeq(ctx)
	if err != nil {
		return err
	}
	if last == 0 {
		return nil
	}
	start := time.Now()
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case err := <-n.runnerErr:
			n.runnerErr <- err
			cancel()
		case <-waitCtx.Done():
		}
	}()
	if err := n.runner.WaitFor(waitCtx, last); err != nil {
		select {
		case rerr := <-n.runnerErr:
			n.runnerErr <- rerr
			return fmt.Errorf("projections: %w", rerr)
		default:
		}
		return fmt.Errorf("projections: catch up to %d: %w", last, err)
	}
	n.logger.Info("read models caught up", "seq", last, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func (n *Node) writeServeInfo() error {
	settings := settingsOf(n.cfg)
	b, err := json.Marshal(serveInfo{PID: os.Getpid(), NATSURL: n.NATSURL(), HTTPURL: n.HTTPURL(), Instance: n.instance, Settings: &settings})
	if err != nil {
		return err
	}
	return os.WriteFile(serveInfoPath(n.cfg), b, 0o600)
}

// HTTPURL returns the base URL the HTTP server listens on.
func (n *Node) HTTPURL() string { return "http://" + n.listener.Addr().String() }

// NATSURL returns the URL of the NATS server the node uses.
func (n *Node) NATSURL() string {
	if n.nats != nil {
		return n.nats.ClientURL()
	}
	return n.cfg.NATSURL
}

// Service returns the node's application service.
func (n *Node) Service() *domain.Service { return n.svc }

// Store returns the node's event store.
func (n *Node) Store() *eventstore.Store { return n.store }

// Views returns the node's read models.
func (n *Node) Views() *projections.Store { return n.views }

// Err returns a channel that yields an error if the read models stop.
func (n *Node) Err() <-chan error { return n.runnerErr }

// Close shuts down gracefully: the HTTP server stops accepting and lets
// in-flight requests finish (until ctx ends), then the runner stops, the
// read models are flushed and closed, and the NATS connection and
// embedded server shut down. It is safe to call more than once.
func (n *Node) Close(ctx context.Context) error {
	n.closeOnce.Do(func() { n.closeErr = n.shutdown(ctx) })
	return n.closeErr
}

func (n *Node) shutdown(ctx context.Context) error {
	var errs []error
	if n.httpServer != nil {
		if err := n.httpServer.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	} else if n.listener != nil {
		n.listener.Close()
	}
	if n.listener != nil {
		os.Remove(serveInfoPath(n.cfg))
	}
	n.replay.close() // see cmd_replay.go
	if n.cancelRunner != nil {
		n.cancelRunner()
	}
	n.done.Wait()
	if n.views != nil {
		if err := n.views.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	n.shared.close()
	if err := n.obs.close(ctx); err != nil {
		errs = append(errs, err)
	}
	if n.store != nil {
		n.store.Close()
	}
	if n.nats != nil {
		n.nats.Shutdown()
	}
	return errors.Join(errs...)
}

// newService builds the application service from the configuration.
func newService(c Config, ports domain.Ports, signer *domain.TokenSigner) (*domain.Service, error) {
	scopes, err := domain.NewScopes(domain.WithAdminScope(c.Scopes), c.DefaultScopes)
	if err != nil {
		return nil, err
	}
	sealer, err := loadSealer(c)
	if err != nil {
		return nil, err
	}
	cost, err := c.passwordHashing()
	if err != nil {
		return nil, err
	}
	return domain.NewService(domain.Config{
		Issuer: c.Issuer,
		Scopes: scopes,
		Lifetimes: domain.Lifetimes{
			AccessToken:       time.Duration(c.AccessTokenTTL),
			ClientCredentials: time.Duration(c.ClientCredentialsTTL),
			RefreshToken:      time.Duration(c.RefreshTokenTTL),
			PersonalAccess:    time.Duration(c.PersonalAccessTTL),
		},
		Grants:           domain.Grants{Password: c.PasswordGrant, Implicit: c.ImplicitGrant},
		Leeway:           5 * time.Second,
		Sealer:           sealer,
		PasswordHashing:  cost,
		PasswordHashes:   cost.Slots(int64(c.PasswordHashMemoryMB) << 20),
		PasswordHashWait: time.Duration(c.PasswordHashWait),
		ProjectionWait:   time.Duration(c.ProjectionWaitTimeout),

		RefreshRotationGrace: time.Duration(c.RefreshRotationGrace),
		ChallengeTTL:         time.Duration(c.ChallengeTTL),
	}, ports, signer)
}

// enabledGrants lists the grant types this server answers.
func enabledGrants(c Config) []string {
	g := []string{domain.GrantAuthorizationCode, domain.GrantClientCredentials, domain.GrantRefreshToken, domain.GrantDeviceCode}
	if c.PasswordGrant {
		g = append(g, domain.GrantPassword)
	}
	if c.ImplicitGrant {
		g = append(g, domain.GrantImplicit)
	}
	return g
}

// openEventStore connects to the configured NATS, or starts the embedded
// server on the data directory, listening on port (-1: random), and opens
// the stream.
func openEventStore(ctx context.Context, c Config, logger *slog.Logger, port int) (*eventstore.Server, *eventstore.Store, error) {
	logKey, err := loadLogSigningKey(c)
	if err != nil {
		return nil, nil, err
	}
	opts := eventstore.Options{
		URL: c.NATSURL, User: c.NATSUser, Password: c.NATSPassword, CredsFile: c.NATSCreds, NkeySeedFile: c.NATSNkey,
		Replicas: c.Replicas, MaxAge: time.Duration(c.StreamMaxAge),
		LogKey: logKey, Logger: logger, StallAfter: time.Duration(c.ConsumerStallTimeout),
		NoCompression: c.StreamCompression == compressionNone,
	}
	var srv *eventstore.Server
	if c.NATSURL == "" {
		var err error
		srv, err = eventstore.StartServer(eventstore.ServerOptions{
			StoreDir: filepath.Join(c.DataDir, "jetstream"), KeysDir: natsKeysDir(c), Host: c.NATSHost, Port: port,
			SyncAlways: c.Sync == "always",
		}, logger)
		if err != nil {
			return nil, nil, err
		}
		opts.InProcess, opts.NkeySeedFile = srv, srv.SeedFile(eventstore.RoleWriter)
	}
	store, err := eventstore.Open(ctx, opts)
	if err != nil {
		if srv != nil {
			srv.Shutdown()
		}
		return nil, nil, err
	}
	return srv, store, nil
}
