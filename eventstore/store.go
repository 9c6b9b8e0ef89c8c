package eventstore

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore/internal/groupcommit"
	"github.com/stamp-oauth/stamp/eventstore/internal/replymux"
)

// Defaults of Options.
const (
	DefaultReplicas        = 1
	DefaultDuplicateWindow = 2 * time.Minute
	// DefaultTimeout bounds a request whose context has no deadline.
	DefaultTimeout = 5 * time.Second
)

// maxInflightBatches bounds the atomic batches one Store has open at once.
// The server refuses more than 50 per stream (error 10210), shared by every
// instance on the stream, so a few instances stay below it together.
const maxInflightBatches = 16

// Options configure a Store. The zero value of each field means its default,
// except that exactly one of URL and InProcess is required.
type Options struct {
	// URL lists the NATS servers to connect to (comma-separated).
	URL string
	// InProcess, when set, connects to this embedded server without the
	// network, for the lowest latency; URL must then be empty. The Store
	// then lives no longer than the Server: close it before Shutdown.
	// Without credentials it authenticates as the server's RoleWriter
	// (RoleRevocations for OpenRevocationFeed).
	InProcess *Server
	// User and Password authenticate by user name; both or neither.
	User, Password string
	// CredsFile authenticates with a NATS credentials file (JWT and nkey
	// seed); exclusive with User.
	CredsFile string
	// NkeySeedFile authenticates with an nkey: the file holds the user's
	// seed (as the embedded server's Server.SeedFile, or the nats CLI's
	// --nkey); exclusive with User and CredsFile.
	NkeySeedFile string
	// Replicas is the stream's replica count, 1 to 5; DefaultReplicas if
	// zero. Use 3 on a cluster.
	Replicas int
	// MaxAge drops events older than it; zero keeps every event forever.
	MaxAge time.Duration
	// DuplicateWindow is how long an envelope id is remembered to
	// deduplicate a retried append; DefaultDuplicateWindow if zero. It cannot
	// exceed a non-zero MaxAge.
	DuplicateWindow time.Duration
	// Name names the connection in the server's monitoring; "stamp" if
	// empty.
	Name string
	// DisableGroupCommit turns off group commit, so that every append is
	// published on its own. Group commit is on by default (the zero value):
	// see Store.Append. The field is a "disable" switch so that the zero
	// Options keep their meaning of "all defaults".
	DisableGroupCommit bool
	// LogKey, when set, signs every event the Store appends (headers
	// Stamp-Signature and Stamp-Key) and is trusted by its readers; Open
	// then makes sure the log announces it (see Open). Nil appends
	// unsigned events.
	LogKey ed25519.PrivateKey
	// TrustedLogKeys are further public keys whose signatures the Store's
	// readers accept. With no trusted key at all (nor LogKey) readers
	// check no signature.
	TrustedLogKeys []ed25519.PublicKey
	// Logger receives the refusals Deliver parks, at error level; nil
	// discards.
	Logger *slog.Logger
	// StallAfter is how long a follower of the stream (Read with Follow,
	// Deliver) may stay behind the stream's last sequence without
	// delivering anything before the watchdog recreates its consumer;
	// DefaultStallAfter if zero.
	StallAfter time.Duration
	// WatchEvery is how often the watchdog compares what each follower
	// delivered with the stream; DefaultWatchEvery if zero.
	WatchEvery time.Duration
	// NoCompression stores STAMP and its archive uncompressed; S2
	// compression is on by default (the zero value). Open applies it to an
	// existing stream too: the server compresses what it writes from its
	// next start on.
	NoCompression bool
}

// Validate reports the first problem with o, or nil. It only checks: the
// defaults are applied by Open (and OpenReadOnly, OpenRevocationFeed),
// which call it.
func (o Options) Validate() error {
	switch {
	case (o.URL == "") == (o.InProcess == nil):
		return errors.New("eventstore: options: exactly one of URL and InProcess is required")
	case (o.User == "") != (o.Password == ""):
		return errors.New("eventstore: options: User and Password go together")
	case o.User != "" && o.CredsFile != "":
		return errors.New("eventstore: options: User and CredsFile are exclusive")
	case o.NkeySeedFile != "" && (o.User != "" || o.CredsFile != ""):
		return errors.New("eventstore: options: NkeySeedFile is exclusive with User and CredsFile")
	case o.Replicas < 0 || o.Replicas > 5:
		return fmt.Errorf("eventstore: options: Replicas %d is not 1 to 5", o.Replicas)
	case o.MaxAge < 0:
		return fmt.Errorf("eventstore: options: negative MaxAge %s", o.MaxAge)
	case o.StallAfter < 0 || o.WatchEvery < 0:
		return fmt.Errorf("eventstore: options: negative StallAfter %s or WatchEvery %s", o.StallAfter, o.WatchEvery)
	case o.DuplicateWindow < 0:
		return fmt.Errorf("eventstore: options: negative DuplicateWindow %s", o.DuplicateWindow)
	case o.LogKey != nil && len(o.LogKey) != ed25519.PrivateKeySize:
		return fmt.Errorf("eventstore: options: LogKey: %w", domain.ErrBadLogKey)
	case o.MaxAge > 0 && o.duplicateWindow() > o.MaxAge:
		return fmt.Errorf("eventstore: options: DuplicateWindow %s exceeds MaxAge %s", o.duplicateWindow(), o.MaxAge)
	}
	return nil
}

// duplicateWindow is the window o asks for: DuplicateWindow, or its
// default.
func (o Options) duplicateWindow() time.Duration {
	if o.DuplicateWindow == 0 {
		return DefaultDuplicateWindow
	}
	return o.DuplicateWindow
}

// withDefaults returns o with every zero field set to its default. Open,
// OpenReadOnly and OpenRevocationFeed apply it after Validate.
func (o Options) withDefaults() Options {
	if o.Replicas == 0 {
		o.Replicas = DefaultReplicas
	}
	o.DuplicateWindow = o.duplicateWindow()
	if o.Name == "" {
		o.Name = "stamp"
	}
	if o.StallAfter == 0 {
		o.StallAfter = DefaultStallAfter
	}
	if o.WatchEvery == 0 {
		o.WatchEvery = DefaultWatchEvery
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// streamConfig is the STAMP stream as o wants it.
func (o Options) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               domain.StreamName,
		Description:        "stamp event log",
		Subjects:           []string{domain.SubjectRoot + ".>"},
		Storage:            jetstream.FileStorage,
		Retention:          jetstream.LimitsPolicy,
		Replicas:           o.Replicas,
		MaxAge:             o.MaxAge,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxMsgsPerSubject:  -1,
		Discard:            jetstream.DiscardOld,
		Duplicates:         o.DuplicateWindow,
		DenyDelete:         true,
		DenyPurge:          true,
		AllowDirect:        true,
		AllowAtomicPublish: true,
	}
}

// Store must satisfy the port the domain's Service appends and loads through.
var _ domain.EventLog = (*Store)(nil)

// Store is the event log on the STAMP stream. Its methods are safe for
// concurrent use.
type Store struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	archive jetstream.Stream       // STAMP_ARCHIVE (see archive.go); nil: none
	batches chan struct{}          // semaphore of maxInflightBatches
	replies *replymux.Mux          // the answers of direct gets
	commits *groupcommit.Committer // nil when Options.DisableGroupCommit
	logger  *slog.Logger

	logKey   ed25519.PrivateKey // nil: events go unsigned
	logKeyID string
	verify   *verifier
	readOnly bool // from OpenReadOnly
	watch    *watchdog

	closed    atomic.Bool
	closeOnce sync.Once
}

// connect opens the NATS connection opts describe for role: in-process or
// by URL, with credentials (in-process without any: role's seed), with
// role's inbox prefix, reconnecting forever; extra options are added last.
func (opts Options) connect(role Role, extra ...nats.Option) (*nats.Conn, error) {
	copts := []nats.Option{nats.Name(opts.Name), nats.MaxReconnects(-1), nats.CustomInboxPrefix(role.InboxPrefix()),
		nats.ErrorHandler(asyncErrors(opts.Logger))}
	url := opts.URL
	if opts.InProcess != nil {
		copts = append(copts, nats.InProcessServer(opts.InProcess))
		url = ""
		if opts.User == "" && opts.CredsFile == "" && opts.NkeySeedFile == "" {
			opts.NkeySeedFile = opts.InProcess.SeedFile(role)
		}
	}
	if opts.User != "" {
		copts = append(copts, nats.UserInfo(opts.User, opts.Password))
	}
	if opts.CredsFile != "" {
		copts = append(copts, nats.UserCredentials(opts.CredsFile))
	}
	if opts.NkeySeedFile != "" {
		nk, err := nats.NkeyOptionFromSeed(opts.NkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("nkey seed file: %w", err)
		}
		copts = append(copts, nk)
	}
	return nats.Connect(url, append(copts, extra...)...)
}

// asyncErrors returns the handler of a connection's asynchronous errors,
// which nats.go would otherwise print to standard error. A refused
// consumer deletion is routine for the roles that may not delete (an
// ordered consumer deletes its predecessor when it resets; the server
// drops it once idle): debug. Anything else: a warning. A nil logger
// discards.
func asyncErrors(logger *slog.Logger) nats.ErrHandler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return func(_ *nats.Conn, _ *nats.Subscription, err error) {
		level := slog.LevelWarn
		if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), ".CONSUMER.DELETE.") {
			level = slog.LevelDebug
		}
		logger.Log(context.Background(), level, "eventstore: nats connection", "err", err)
	}
}

// Open connects to NATS, creates the STAMP stream or updates its
// configuration to match opts, does the same for its archive
// STAMP_ARCHIVE (see archive.go), and returns the Store. An update can
// only tighten what the stream allows: the server refuses to lift
// DenyDelete or DenyPurge, or to change the storage type, so an existing
// stream keeps its DenyPurge. The caller must call Close.
//
// Log signing: Open learns the log's adoption point from the last
// LogSigningKeyAnnounced (direct get by subject). With opts.LogKey and no
// announcement yet, it adopts signing: it appends the announcement of
// LogKey's public half with adopted_at = the stream's last sequence,
// expecting the announcement subject to be empty (of two instances
// adopting at once, one appends and the other learns its announcement).
// It fails with ErrLogKeyMismatch when the log announces another key, and
// with ErrRefused when the announcement is not signed by a trusted key.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()

	nc, err := opts.connect(RoleWriter)
	if err != nil {
		return nil, fmt.Errorf("eventstore: open: connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("eventstore: open: %w", err)
	}
	stream, err := startup(ctx, func(ctx context.Context) (jetstream.Stream, error) {
		cfg, err := opts.hotConfig(ctx, js)
		if err != nil {
			return nil, err
		}
		return js.CreateOrUpdateStream(ctx, cfg)
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("eventstore: open: stream %s: %w", domain.StreamName, err)
	}
	replies, err := replymux.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("eventstore: open: %w", err)
	}
	s := &Store{nc: nc, js: js, stream: stream, batches: make(chan struct{}, maxInflightBatches), replies: replies,
		logger: opts.Logger, logKey: opts.LogKey, verify: newVerifier(opts), watch: newWatchdog(opts)}
	if opts.LogKey != nil {
		s.logKeyID = domain.LogKeyID(opts.LogKey.Public().(ed25519.PublicKey))
	}
	if err := s.openArchive(ctx, opts); err != nil {
		nc.Close()
		return nil, err
	}
	if !opts.DisableGroupCommit {
		if s.commits, err = newCommitter(s); err != nil {
			nc.Close()
			return nil, fmt.Errorf("eventstore: open: %w", err)
		}
	}
	_, err = startup(ctx, func(ctx context.Context) (struct{}, error) {
		if s.logKey != nil {
			return struct{}{}, s.adopt(ctx)
		}
		return struct{}{}, s.verify.learn(ctx, stream, s.archive)
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("eventstore: open: %w", err)
	}
	return s, nil
}

// Close closes the connection and stops the group commit. Reads in progress
// end with an error; appends in progress may or may not have been stored;
// appends waiting for a group commit, and every Append after Close, return
// an error wrapping ErrClosed without storing anything. Calling it again does
// nothing.
func (s *Store) Close() {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if s.commits != nil {
			s.commits.Close()
		}
		s.nc.Close()
		if s.commits != nil {
			s.commits.Wait()
		}
	})
}

// LastSeq returns the stream's last sequence: 0 for an empty stream. It
// tries again while the failure is transient (see Append); one that
// outlasts ctx is a *domain.RetryError matching
// domain.ErrTemporarilyUnavailable.
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	return retrying(ctx, s, func(ctx context.Context) (uint64, error) {
		info, err := s.stream.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("eventstore: last sequence: %w", err)
		}
		return info.State.LastSeq, nil
	})
}

// withTimeout gives ctx DefaultTimeout when it has no deadline.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}
