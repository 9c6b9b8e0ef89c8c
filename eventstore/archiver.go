package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/stamp-oauth/stamp/domain"
)

// The archiver drops from the hot stream what is older than the hot window
// and already in the archive. It is the only identity that may purge
// STAMP: an nkey the embedded server creates in memory at each start and
// gives to no one (not a Role, no seed file), so the writer, readers and
// resource servers still cannot purge the log. It purges by sequence, up
// to min(first event inside the window, last archived event + 1), so an
// event leaves the hot stream only once the archive holds it: a crash
// between archiving and purging loses nothing, and a purge that did not
// happen is done by the next pass. On an external NATS (Options.URL) there
// is no embedded server: the operator provisions an archiver identity with
// ArchiverPermissions, and RemoteArchiver runs the same passes with it.

// ArchiverInboxPrefix is the archiver connection's inbox prefix, the only
// subjects it may subscribe to (see ArchiverPermissions).
const ArchiverInboxPrefix = "_INBOX_STAMP_ARCHIVER"

// ErrPurgeDenied: the hot stream denies purges (it was created before the
// archive, and nats-server cannot lift deny_purge), so the hot window is
// not enforced; the archive still receives every event.
var ErrPurgeDenied = errors.New("eventstore: archiver: the " + domain.StreamName + " stream denies purges (created before the archive); the hot window is not enforced")

// archiverKey is the archiver's in-memory nkey.
type archiverKey struct {
	kp  nkeys.KeyPair
	pub string
}

func newArchiverKey() (archiverKey, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return archiverKey{}, fmt.Errorf("archiver key: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return archiverKey{}, fmt.Errorf("archiver key: %w", err)
	}
	return archiverKey{kp: kp, pub: pub}, nil
}

// ArchiverPermissions is what the archiver may do: look at both streams,
// get messages directly from them, purge the hot stream, and receive the
// answers on its inbox (ArchiverInboxPrefix). It may not publish events,
// purge the archive, nor delete anything. The embedded server grants them
// to its in-memory archiver; on an external NATS the operator grants them
// to the archiver identity (deploy/nats/stamp-accounts.conf, ARCHIVER; see
// RemoteArchiver).
func ArchiverPermissions() Permissions {
	return Permissions{
		PublishAllow: []string{
			jsAPI + ".STREAM.INFO." + domain.StreamName,
			jsAPI + ".STREAM.INFO." + ArchiveStreamName,
			jsAPI + ".DIRECT.GET." + domain.StreamName,
			jsAPI + ".DIRECT.GET." + ArchiveStreamName,
			jsAPI + ".STREAM.PURGE." + domain.StreamName,
		},
		SubscribeAllow: []string{ArchiverInboxPrefix + ".>"},
	}
}

func (k archiverKey) user() *server.NkeyUser {
	return &server.NkeyUser{Nkey: k.pub, Permissions: ArchiverPermissions().server()}
}

// ArchivePass is what one archiver pass found and did, in STAMP sequences.
type ArchivePass struct {
	// HotFirst is the hot stream's first sequence after the pass.
	HotFirst uint64
	// Archived is the last sequence the archive holds (0: none).
	Archived uint64
	// Purged is how many events the pass dropped from the hot stream.
	Purged uint64
}

// Archive runs one archiver pass: it drops from the hot stream every event
// stored before now-window that the archive holds (see the archiver's
// contract above). It returns ErrPurgeDenied (wrapped) for a hot stream
// that denies purges, having dropped nothing. window must be positive.
func (s *Server) Archive(ctx context.Context, window time.Duration, now time.Time) (ArchivePass, error) {
	nc, err := nats.Connect("", nats.InProcessServer(s), nats.Name("stamp-archiver"), nats.CustomInboxPrefix(ArchiverInboxPrefix),
		nats.Nkey(s.archiver.pub, s.archiver.kp.Sign))
	if err != nil {
		return ArchivePass{}, fmt.Errorf("eventstore: archiver: connect: %w", err)
	}
	defer nc.Close()
	return archiveOn(ctx, nc, window, now)
}

// archiveOn runs one pass over nc, an archiver's connection, within the
// store's request deadline; window must be positive.
func archiveOn(ctx context.Context, nc *nats.Conn, window time.Duration, now time.Time) (ArchivePass, error) {
	if window <= 0 {
		return ArchivePass{}, fmt.Errorf("eventstore: archiver: window %s is not positive", window)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	return archivePass(ctx, nc, now.Add(-window))
}

// streamInfo is the part of a stream's info the archiver reads.
type streamInfo struct {
	Config struct {
		DenyPurge bool `json:"deny_purge"`
	} `json:"config"`
	State struct {
		Msgs     uint64 `json:"messages"`
		FirstSeq uint64 `json:"first_seq"`
		LastSeq  uint64 `json:"last_seq"`
	} `json:"state"`
	Error *struct {
		Description string `json:"description"`
	} `json:"error"`
}

func archivePass(ctx context.Context, nc *nats.Conn, cutoff time.Time) (ArchivePass, error) {
	var hot, arch streamInfo
	if err := apiRequest(ctx, nc, jsAPI+".STREAM.INFO."+domain.StreamName, nil, &hot); err != nil {
		return ArchivePass{}, fmt.Errorf("eventstore: archiver: %w", err)
	}
	if err := apiRequest(ctx, nc, jsAPI+".STREAM.INFO."+ArchiveStreamName, nil, &arch); err != nil {
		return ArchivePass{}, fmt.Errorf("eventstore: archiver: %w", err)
	}
	pass := ArchivePass{HotFirst: hot.State.FirstSeq}
	if hot.State.Msgs == 0 {
		pass.HotFirst = hot.State.LastSeq + 1
	}
	if arch.State.Msgs > 0 {
		m, err := directRequest(ctx, nc, ArchiveStreamName, map[string]any{"seq": arch.State.LastSeq})
		if err != nil || m == nil {
			return pass, fmt.Errorf("eventstore: archiver: last archived event: %w", errors.Join(err, errors.New("not found")))
		}
		if pass.Archived, err = sourceSeq(m.Header); err != nil {
			return pass, fmt.Errorf("eventstore: archiver: %w", err)
		}
	}
	// The first event inside the window bounds the purge too.
	bound := hot.State.LastSeq + 1
	m, err := directRequest(ctx, nc, domain.StreamName, map[string]any{"start_time": cutoff.UTC()})
	if err != nil {
		return pass, fmt.Errorf("eventstore: archiver: first event in the window: %w", err)
	}
	if m != nil {
		if bound, err = parseHeader(m, hdrSequence); err != nil {
			return pass, fmt.Errorf("eventstore: archiver: %w", err)
		}
	}
	bound = min(bound, pass.Archived+1)
	if bound <= pass.HotFirst {
		return pass, nil
	}
	if hot.Config.DenyPurge {
		return pass, ErrPurgeDenied
	}
	var resp struct {
		Success bool   `json:"success"`
		Purged  uint64 `json:"purged"`
		Error   *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := apiRequest(ctx, nc, jsAPI+".STREAM.PURGE."+domain.StreamName, map[string]any{"seq": bound}, &resp); err != nil {
		return pass, fmt.Errorf("eventstore: archiver: purge below %d: %w", bound, err)
	}
	pass.Purged, pass.HotFirst = resp.Purged, bound
	return pass, nil
}

// apiRequest sends a JetStream API request and decodes its answer into
// out, whose "error" member, when set, is returned as an error.
func apiRequest(ctx context.Context, nc *nats.Conn, subject string, req any, out any) error {
	var body []byte
	if req != nil {
		var err error
		if body, err = json.Marshal(req); err != nil {
			return err
		}
	}
	m, err := nc.RequestWithContext(ctx, subject, body)
	if err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	var apiErr struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &apiErr); err != nil {
		return fmt.Errorf("%s: %w", subject, err)
	}
	if apiErr.Error != nil {
		return fmt.Errorf("%s: %s", subject, apiErr.Error.Description)
	}
	return json.Unmarshal(m.Data, out)
}

// directRequest sends one direct get to stream; nil and no error when the
// server finds no message.
func directRequest(ctx context.Context, nc *nats.Conn, stream string, req any) (*nats.Msg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	m, err := nc.RequestWithContext(ctx, jsAPI+".DIRECT.GET."+stream, body)
	if err != nil {
		return nil, err
	}
	switch m.Header.Get(hdrStatus) {
	case "":
		return m, nil
	case statusNotFound:
		return nil, nil
	}
	return nil, statusError(m)
}

// ArchiverOptions configure RunArchiver.
type ArchiverOptions struct {
	// Window is the hot window: events stored longer ago leave the hot
	// stream once archived. Required, positive.
	Window time.Duration
	// Every is the period of the passes; a minute if zero.
	Every time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Logger receives what each pass did (debug) and its failures
	// (warning; ErrPurgeDenied once); nil discards.
	Logger *slog.Logger
}

// RunArchiver runs an archiver pass every opts.Every until ctx ends, then
// returns nil. A failed pass is logged and retried at the next period.
func (s *Server) RunArchiver(ctx context.Context, opts ArchiverOptions) error {
	return runArchiver(ctx, opts, s.Archive)
}

// archiveFunc is one archiver pass over some connection: Server.Archive
// (in-process) or RemoteArchiver.Archive (an external NATS).
type archiveFunc func(ctx context.Context, window time.Duration, now time.Time) (ArchivePass, error)

// runArchiver is the archiver's loop, whichever way it connects: a pass
// at once, then one every opts.Every until ctx ends (then nil). A failed
// pass is logged and retried at the next period.
func runArchiver(ctx context.Context, opts ArchiverOptions, archive archiveFunc) error {
	if opts.Window <= 0 {
		return fmt.Errorf("eventstore: archiver: window %s is not positive", opts.Window)
	}
	if opts.Every <= 0 {
		opts.Every = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	tick := time.NewTicker(opts.Every)
	defer tick.Stop()
	deniedSaid := false
	for {
		pass, err := archive(ctx, opts.Window, opts.Now())
		switch {
		case errors.Is(err, ErrPurgeDenied):
			if !deniedSaid {
				opts.Logger.Warn(err.Error())
				deniedSaid = true
			}
		case err != nil && ctx.Err() == nil:
			opts.Logger.Warn("eventstore: archiver: pass failed", "err", err)
		case err == nil:
			opts.Logger.Debug("eventstore: archiver: pass", "hot_first", pass.HotFirst, "archived", pass.Archived, "purged", pass.Purged)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
