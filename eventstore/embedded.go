package eventstore

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ErrStoreLocked is returned by StartServer when another process (or another
// Server in this process) holds the data directory.
var ErrStoreLocked = errors.New("eventstore: data directory is in use by another process")

// Defaults of ServerOptions.
const (
	DefaultHost         = "127.0.0.1"
	DefaultStartTimeout = 10 * time.Second
)

// lockFileName is the file in ServerOptions.StoreDir that StartServer locks.
const lockFileName = "LOCK"

// ServerOptions configure the embedded nats-server. The zero value of each
// field except StoreDir and Port means its default.
type ServerOptions struct {
	// StoreDir is the data directory; JetStream keeps its files under
	// StoreDir/jetstream. It is created (0700) if missing. Required.
	StoreDir string
	// Host is the address to listen on; DefaultHost (loopback only) if empty.
	Host string
	// Port is the client port: 1 to 65535, or -1 for a random free port.
	// The caller supplies its default (4222 for stamp serve).
	Port int
	// SyncAlways makes JetStream fsync every write before acknowledging it,
	// so an acknowledged event survives a power loss. An atomic batch is
	// synced once. Without it, writes reach the OS at once (they survive a
	// crash of the process) and are fsynced every SyncInterval.
	SyncAlways bool
	// SyncInterval is the fsync period when SyncAlways is false; the
	// server's default (2 minutes) if zero.
	SyncInterval time.Duration
	// KeysDir holds the seed files of the NATS identities (see Role and
	// EnsureSeeds), created on the first start; StoreDir/keys if empty.
	// Every client, in-process ones included, must authenticate as one of
	// them: the server accepts no anonymous client.
	KeysDir string
	// StartTimeout bounds the wait for the server to accept clients;
	// DefaultStartTimeout if zero.
	StartTimeout time.Duration

	// extraUsers are added to the roles' users, for tests that need an
	// identity stamp never has (one that may delete a stream).
	extraUsers []*server.NkeyUser
}

// Validate reports the first problem with o, or nil.
func (o ServerOptions) Validate() error {
	switch {
	case o.StoreDir == "":
		return errors.New("eventstore: server options: StoreDir is required")
	case o.Port != -1 && (o.Port < 1 || o.Port > 65535):
		return fmt.Errorf("eventstore: server options: port %d is not -1 (random) or 1 to 65535", o.Port)
	case o.SyncInterval < 0:
		return fmt.Errorf("eventstore: server options: negative SyncInterval %s", o.SyncInterval)
	case o.StartTimeout < 0:
		return fmt.Errorf("eventstore: server options: negative StartTimeout %s", o.StartTimeout)
	}
	return nil
}

func (o ServerOptions) withDefaults() ServerOptions {
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.KeysDir == "" {
		o.KeysDir = filepath.Join(o.StoreDir, "keys")
	}
	return o
}

// Server is a running embedded nats-server with JetStream. Its methods are
// safe for concurrent use.
type Server struct {
	ns       *server.Server
	keysDir  string
	lock     *os.File
	logs     *serverLogger
	archiver archiverKey // the purge identity, in memory only (archiver.go)
	shutdown sync.Once
}

// StartServer starts an in-process nats-server with JetStream storing under
// opts.StoreDir, and returns once it accepts clients. It returns
// ErrStoreLocked when the directory is held by another Server, and an error
// (with the server's own complaint, when it made one) when the server is not
// ready within opts.StartTimeout, or an error wrapping ErrSeedFile for a
// seed file in opts.KeysDir it cannot use. Clients must authenticate with
// the nkey of a Role (see RolePermissions; SeedFile names the seed files,
// which StartServer creates on the first start). The server's log goes to
// logger: notices and debug lines at debug level, warnings and errors
// (permission violations among them) at their own; a nil logger discards
// it. The caller must call Shutdown.
func StartServer(opts ServerOptions, logger *slog.Logger) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := os.MkdirAll(opts.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("eventstore: start server: %w", err)
	}
	lock, err := lockDir(opts.StoreDir)
	if err != nil {
		return nil, err
	}

	pubs, err := EnsureSeeds(opts.KeysDir)
	if err != nil {
		unlockDir(lock)
		return nil, fmt.Errorf("eventstore: start server: %w", err)
	}
	archiver, err := newArchiverKey()
	if err != nil {
		unlockDir(lock)
		return nil, fmt.Errorf("eventstore: start server: %w", err)
	}
	ns, err := server.NewServer(&server.Options{
		ServerName:   "stamp",
		Host:         opts.Host,
		Port:         opts.Port,
		Nkeys:        append(append(nkeyUsers(pubs), archiver.user()), opts.extraUsers...),
		JetStream:    true,
		StoreDir:     opts.StoreDir,
		SyncAlways:   opts.SyncAlways,
		SyncInterval: opts.SyncInterval,
		NoSigs:       true,
	})
	if err != nil {
		unlockDir(lock)
		return nil, fmt.Errorf("eventstore: start server: %w", err)
	}
	logs := newServerLogger(logger)
	ns.SetLoggerV2(logs, logs.debug, false, false)
	ns.Start()

	s := &Server{ns: ns, keysDir: opts.KeysDir, lock: lock, logs: logs, archiver: archiver}
	// Start returns early, having only logged why, when JetStream fails.
	if fatal := logs.fatal(); fatal != "" {
		s.Shutdown()
		return nil, fmt.Errorf("eventstore: start server: %s", fatal)
	}
	if !ns.ReadyForConnections(opts.StartTimeout) || !ns.JetStreamEnabled() {
		s.Shutdown()
		if fatal := logs.fatal(); fatal != "" {
			return nil, fmt.Errorf("eventstore: start server: %s", fatal)
		}
		return nil, fmt.Errorf("eventstore: start server: not ready for clients with JetStream after %s", opts.StartTimeout)
	}
	return s, nil
}

// SeedFile returns the path of role's seed file, for a client's
// Options.NkeySeedFile or the nats CLI's --nkey.
func (s *Server) SeedFile(role Role) string { return filepath.Join(s.keysDir, SeedFileName(role)) }

// ClientURL returns the URL clients connect to, with the port actually bound.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// InProcessConn returns a connection to the server that bypasses the network,
// which makes *Server a nats.InProcessConnProvider:
//
//	nc, err := nats.Connect("", nats.InProcessServer(srv))
//
// Options.InProcess does this for a Store.
func (s *Server) InProcessConn() (net.Conn, error) { return s.ns.InProcessConn() }

// Shutdown stops the server, waits until it has stopped and flushed its
// store, and releases the data directory. Connections to it are closed.
// Calling it again does nothing.
func (s *Server) Shutdown() {
	s.shutdown.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		unlockDir(s.lock)
	})
}
