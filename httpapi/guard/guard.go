package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults and limits of a Guard.
const (
	// DefaultHTTPTimeout bounds a JWKS request when Options.HTTPClient is
	// nil.
	DefaultHTTPTimeout = 10 * time.Second
	// RefetchInterval is the least time between two JWKS requests made
	// because a token named a kid the guard does not know: a stream of
	// tokens with made-up kids costs the authorization server one request
	// per interval at most.
	RefetchInterval = 10 * time.Second

	pruneInterval = time.Minute
	feedRetryMin  = 100 * time.Millisecond
	feedRetryMax  = 30 * time.Second
)

// Options configure a Guard. Issuer and Feed are required; the zero value
// of every other field means its default.
type Options struct {
	// Issuer is the authorization server's issuer (its STAMP_ISSUER): the
	// "iss" every accepted token carries.
	Issuer string
	// JWKSURL is where the server publishes its keys; Issuer +
	// "/.well-known/jwks.json" if empty.
	JWKSURL string
	// HTTPClient fetches the JWKS; a client with DefaultHTTPTimeout if nil.
	HTTPClient *http.Client
	// Feed tells the guard which tokens stopped validating early.
	Feed Feed
	// Audience, when set, is this resource server's identifier (RFC 8707
	// §2: an absolute URI, as registered with the clients' --audience):
	// a token whose aud does not hold it is refused with 401
	// invalid_token by every middleware of the guard, so a token
	// requested for another API is not accepted here. Empty accepts any
	// aud (tokens requested without a resource carry the client id).
	Audience string
	// AcceptCookie, when set, also accepts the token of a cookie (stamp's
	// cookie token, with its CSRF proof) from a request without an
	// Authorization header; see CookieAuth. Nil: bearer tokens only, and a
	// cookie alone is 401.
	AcceptCookie *CookieAuth
	// Leeway is the clock skew tolerated on a token's nbf and exp, in whole
	// seconds; none if zero.
	Leeway time.Duration
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Logger receives the guard's own troubles (a JWKS that cannot be
	// fetched, a feed that stopped) and, at debug level, why a token was
	// refused; nothing is logged if nil.
	Logger *slog.Logger
}

// Validate reports the first problem with o, or nil.
func (o Options) Validate() error {
	switch {
	case o.Issuer == "":
		return errors.New("guard: options: Issuer is required")
	case o.Feed == nil:
		return errors.New("guard: options: Feed is required: without it revoked tokens would be accepted")
	case o.Leeway < 0:
		return fmt.Errorf("guard: options: negative Leeway %s", o.Leeway)
	case o.Audience != "" && strings.TrimSpace(o.Audience) != o.Audience:
		return fmt.Errorf("guard: options: Audience %q has surrounding space", o.Audience)
	}
	u, err := url.Parse(o.withDefaults().JWKSURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("guard: options: JWKSURL %q is not an http(s) URL", o.withDefaults().JWKSURL)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.JWKSURL == "" {
		o.JWKSURL = strings.TrimSuffix(o.Issuer, "/") + "/.well-known/jwks.json"
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Guard validates access tokens and serves the middleware. It is safe for
// concurrent use.
type Guard struct {
	opts    Options
	keys    *keyCache
	revs    revocations
	current atomic.Bool

	changeMu sync.Mutex
	changed  chan struct{} // closed and replaced when current changes

	// For Collector (metrics.go): checks by verdict, and when the feed
	// stopped being current (Unix nanoseconds; the guard starts so).
	verdicts        [numVerdicts]atomic.Uint64
	notCurrentSince atomic.Int64

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New fetches the JWKS (within ctx) and returns a Guard that runs the Feed
// and prunes expired revocations in the background until Close. It returns
// an error when opts are invalid or the JWKS cannot be fetched or holds no
// usable key. The Guard answers 503 until the Feed reports that it is
// current; WaitCurrent waits for that.
func New(ctx context.Context, opts Options) (*Guard, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g := &Guard{
		opts:    opts,
		keys:    newKeyCache(life, opts),
		revs:    newRevocations(),
		changed: make(chan struct{}),
		cancel:  cancel,
	}
	g.notCurrentSince.Store(time.Now().UnixNano())
	if err := g.keys.load(ctx); err != nil {
		cancel()
		return nil, err
	}
	g.wg.Add(2)
	go func() { defer g.wg.Done(); g.runFeed(life) }()
	go func() { defer g.wg.Done(); g.prune(life) }()
	return g, nil
}

// Close stops the Feed and the pruning and waits for them; the guard then
// answers 503. Calling it again does nothing.
func (g *Guard) Close() {
	g.cancel()
	g.wg.Wait()
	g.setCurrent(false)
}

// Current reports whether the guard knows every revocation up to a moment
// ago, and so accepts tokens.
func (g *Guard) Current() bool { return g.current.Load() }

// WaitCurrent returns nil once the guard is current (at once if it is),
// or ctx.Err() wrapped when ctx ends first. A readiness probe can use it.
func (g *Guard) WaitCurrent(ctx context.Context) error {
	for {
		g.changeMu.Lock()
		ch := g.changed
		g.changeMu.Unlock()
		if g.current.Load() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("guard: wait for the revocation feed: %w", ctx.Err())
		}
	}
}

func (g *Guard) setCurrent(current bool) {
	g.changeMu.Lock()
	defer g.changeMu.Unlock()
	if g.current.Load() == current {
		return
	}
	g.current.Store(current)
	if !current {
		g.notCurrentSince.Store(time.Now().UnixNano())
	}
	close(g.changed)
	g.changed = make(chan struct{})
	if current {
		g.opts.Logger.Info("guard: revocations are current; accepting tokens")
	} else {
		g.opts.Logger.Warn("guard: revocations are not current; answering 503 until they are")
	}
}

// runFeed runs the Feed until ctx ends, again after it stops, with a
// growing pause in between.
func (g *Guard) runFeed(ctx context.Context) {
	backoff := feedRetryMin
	for {
		started := time.Now()
		err := g.opts.Feed.Run(ctx, sink{g})
		g.setCurrent(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > time.Minute {
			backoff = feedRetryMin
		}
		g.opts.Logger.Error("guard: the revocation feed stopped; restarting it", "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, feedRetryMax)
	}
}

// prune drops expired revocations every pruneInterval until ctx ends.
func (g *Guard) prune(ctx context.Context) {
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.revs.prune(g.opts.Now().Add(-g.opts.Leeway))
		}
	}
}
