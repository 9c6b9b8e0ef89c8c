package domain

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// ClientReader reads clients from a read model. Client returns an error
// wrapping ErrNotFound for an unknown id.
type ClientReader interface {
	Client(ctx context.Context, id string) (Client, error)
}

// TokenReader reads access tokens by jti; ErrNotFound for an unknown one.
type TokenReader interface {
	AccessToken(ctx context.Context, jti string) (AccessToken, error)
}

// KeyReader lists the announced signing keys.
type KeyReader interface {
	SigningKeys(ctx context.Context) ([]SigningKey, error)
}

// UserReader reads users; ErrNotFound for an unknown id or email.
type UserReader interface {
	User(ctx context.Context, id string) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
}

// GrantReader reads the short-lived grant state: codes, refresh token
// families and device codes by the hash of what the client presents, and
// users' consents. Each returns ErrNotFound when there is none.
type GrantReader interface {
	AuthCodeByHash(ctx context.Context, hash string) (AuthCode, error)
	RefreshFamilyByTokenHash(ctx context.Context, hash string) (RefreshFamily, error)
	DeviceCodeByHash(ctx context.Context, hash string) (DeviceCode, error)
	DeviceCodeByUserCodeHash(ctx context.Context, hash string) (DeviceCode, error)
	Authorization(ctx context.Context, userID, clientID string) (Authorization, error)
}

// Ports are what the Service reads and writes through. Log and Wait are
// required; a Service without read models (the CLI while a server owns
// them) may leave the readers nil and use only the commands that load
// aggregates from the log.
type Ports struct {
	Log     EventLog
	Wait    Waiter
	Clients ClientReader
	Tokens  TokenReader
	Keys    KeyReader
	Users   UserReader
	Grants  GrantReader
	// Sessions reads the ended web sessions (CheckSession).
	Sessions SessionReader
	// Limiter counts failed logins, client authentications and user
	// codes (see Limits); nil limits nothing.
	Limiter Limiter
	// UserKeys keeps the per-user keys of personal fields; required to
	// register and delete users.
	UserKeys UserKeys
	// DevicePolls remembers when device codes last polled, for
	// slow_down; nil keeps them in this process (NewLocalDevicePolls).
	DevicePolls DevicePolls
	// Freshness, when set, is asked to catch up with the log before an
	// answer that depends on everything acknowledged before the request
	// (see Freshness); nil answers from the read models as they are
	// (read_consistency local).
	Freshness Freshness
	// PasswordHook, when set, checks users' passwords in place of the
	// stored hashes (see password_hook.go); nil checks them here.
	PasswordHook PasswordHook
}

// Lifetimes of issued tokens and codes.
type Lifetimes struct {
	AccessToken       time.Duration
	ClientCredentials time.Duration
	RefreshToken      time.Duration
	PersonalAccess    time.Duration
	AuthCode          time.Duration
	DeviceCode        time.Duration
}

// Grants switches on the grants that are off by default, as in Passport
// 12+ (Passport::enablePasswordGrant, enableImplicitGrant).
type Grants struct {
	Password bool
	Implicit bool
}

// Config configures a Service.
type Config struct {
	// Issuer is the "iss" of every token: the server's public base URL.
	Issuer string
	Scopes *Scopes
	Lifetimes
	Grants
	// Leeway tolerates clock skew when checking nbf and exp.
	Leeway time.Duration
	// Sealer encrypts password hashes for the log; required for users.
	Sealer *Sealer
	// DeviceInterval is the polling interval told to devices (RFC 8628).
	DeviceInterval time.Duration
	// RefreshRotationGrace is how long after its rotation a rotated-out
	// refresh token presented again is refused (invalid_grant) without
	// being taken for reuse. Default 0, as ORY Hydra's: any presentation
	// after the rotation was committed is reuse and revokes the family.
	// At most MaxRefreshRotationGrace.
	RefreshRotationGrace time.Duration
	// Limits are the rates of failed attempts the Limiter allows; zero
	// rates take DefaultLimits'.
	Limits Limits
	// PasswordHashing is the argon2id cost of new password hashes; the
	// zero value means DefaultPasswordHashing(). Validate refuses a cost
	// PasswordHashing.Validate refuses.
	PasswordHashing PasswordHashing
	// PasswordHashes bounds the argon2id hashes running at once (each
	// takes PasswordHashing.MemoryBytes); 0 means
	// PasswordHashing.Slots(DefaultPasswordHashBudget).
	PasswordHashes int
	// PasswordHashWait is how long a password check waits for a free
	// slot before it is refused as temporarily unavailable; 0 means
	// DefaultPasswordHashWait.
	PasswordHashWait time.Duration
	// ProjectionWait bounds how long a command waits, after its append
	// was acknowledged, for the local read models to apply it (see
	// Service.waitFor); 0 means DefaultProjectionWait, negative is an
	// error.
	ProjectionWait time.Duration
	// ChallengeTTL is how long a login or consent challenge lives (see
	// challenge.go); 0 means ChallengeLifetime.
	ChallengeTTL time.Duration
	// Now and Random default to time.Now and crypto/rand.
	Now    func() time.Time
	Random io.Reader
}

// Validate checks c and fills defaults.
func (c *Config) Validate() error {
	if c.Issuer == "" {
		return errors.New("domain: issuer is required")
	}
	if c.Scopes == nil {
		c.Scopes, _ = NewScopes(nil, nil)
	}
	if c.ProjectionWait < 0 {
		return errors.New("domain: projection wait must not be negative")
	}
	if c.AccessToken <= 0 {
		return errors.New("domain: access token lifetime must be positive")
	}
	if c.ClientCredentials <= 0 {
		c.ClientCredentials = c.AccessToken
	}
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{
		{&c.RefreshToken, 30 * 24 * time.Hour},
		{&c.PersonalAccess, 365 * 24 * time.Hour},
		{&c.AuthCode, 10 * time.Minute},
		{&c.DeviceCode, DefaultDeviceCodeLifetime},
		{&c.DeviceInterval, 5 * time.Second},
		{&c.PasswordHashWait, DefaultPasswordHashWait},
		{&c.ProjectionWait, DefaultProjectionWait},
	}
	for _, d := range defaults {
		if *d.d <= 0 {
			*d.d = d.def
		}
	}
	if c.PasswordHashing == (PasswordHashing{}) {
		c.PasswordHashing = DefaultPasswordHashing()
	}
	if err := c.PasswordHashing.Validate(); err != nil {
		return err
	}
	if c.PasswordHashes <= 0 {
		c.PasswordHashes = c.PasswordHashing.Slots(DefaultPasswordHashBudget)
	}
	c.Limits = c.Limits.withDefaults()
	if c.RefreshRotationGrace < 0 || c.RefreshRotationGrace > MaxRefreshRotationGrace {
		return fmt.Errorf("domain: refresh rotation grace must be between 0 and %s", MaxRefreshRotationGrace)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Random == nil {
		c.Random = rand.Reader
	}
	return nil
}

// MaxRefreshRotationGrace bounds Config.RefreshRotationGrace: a longer
// window would let a stolen refresh token be replayed unpunished.
const MaxRefreshRotationGrace = time.Minute

// Service is stamp's application service: each method turns one command
// into events (read a view, decide, append, wait until the local read
// models have applied the append) or answers one query. HTTP handlers and
// the CLI both call it. It is safe for concurrent use.
type Service struct {
	cfg    Config
	ports  Ports
	signer atomic.Pointer[TokenSigner]
	keys   keyCache
	// verified remembers the access tokens whose signature verified
	// (verified_tokens.go).
	verified verifiedTokens
	polls    pollClock
	hashes   chan struct{} // password hashing slots, see hashSlot
}

// NewService returns a Service. signer may be nil when the Service will
// not issue tokens (the CLI).
func NewService(cfg Config, ports Ports, signer *TokenSigner) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if ports.Log == nil || ports.Wait == nil {
		return nil, errors.New("domain: the service needs an event log and a waiter")
	}
	s := &Service{cfg: cfg, ports: ports, keys: keyCache{m: map[string]cachedKey{}},
		hashes: make(chan struct{}, cfg.PasswordHashes)}
	s.signer.Store(signer)
	return s, nil
}

// SetSigner switches the key new tokens are signed with (after a key
// rotation). Tokens in flight finish with the key they started with.
func (s *Service) SetSigner(signer *TokenSigner) { s.signer.Store(signer) }

// Signer returns the current token signer, or nil.
func (s *Service) Signer() *TokenSigner { return s.signer.Load() }

// Scopes returns the scope catalogue.
func (s *Service) Scopes() *Scopes { return s.cfg.Scopes }

// Issuer returns the issuer URL.
func (s *Service) Issuer() string { return s.cfg.Issuer }

// record appends events, each on its own aggregate, as one atomic unit
// with expect applying to the first, and waits until the local read
// models have applied them. It returns the sequence of the last event.
func (s *Service) record(ctx context.Context, expect Expect, actor Actor, events ...Event) (uint64, error) {
	return s.recordCaused(ctx, "", expect, actor, events...)
}

// recordCaused is record with event ids derived from cause, or random
// ones when cause is empty.
func (s *Service) recordCaused(ctx context.Context, cause string, expect Expect, actor Actor, events ...Event) (uint64, error) {
	now := s.cfg.Now()
	ps := make([]Pending, len(events))
	for i, e := range events {
		agg := e.AggregateOf()
		id, err := s.eventID(cause, agg, e)
		if err != nil {
			return 0, err
		}
		env, err := NewEnvelope(id, e, now, actor)
		if err != nil {
			return 0, err
		}
		ps[i] = Pending{Aggregate: agg, Envelope: env}
	}
	var seq uint64
	var err error
	if len(ps) == 1 {
		seq, err = s.ports.Log.Append(ctx, ps[0].Aggregate, expect, ps[0].Envelope)
	} else {
		seq, err = s.ports.Log.AppendAll(ctx, expect, ps...)
	}
	if err != nil {
		return 0, err
	}
	if err := s.waitFor(ctx, seq); err != nil {
		return 0, err
	}
	return seq, nil
}

func (s *Service) eventID(cause string, agg Aggregate, e Event) (string, error) {
	if cause == "" {
		return NewID(s.cfg.Random)
	}
	return DerivedID(cause, agg.String()+"/"+e.EventType()), nil
}

// DerivedID returns a stable event id for the effect named by target of
// the event cause: the same cause and target always give the same id.
func DerivedID(cause, target string) string {
	sum := sha256.Sum256([]byte(cause + "\x00" + target))
	return "d-" + hex.EncodeToString(sum[:16])
}

// maxAttempts bounds the decide-append loop under optimistic concurrency.
const maxAttempts = 5

// retry runs attempt until it returns anything but ErrConflict, at most
// maxAttempts times. Each attempt reloads state and decides again.
func retry(ctx context.Context, attempt func() error) error {
	var err error
	for range maxAttempts {
		if err = attempt(); !errors.Is(err, ErrConflict) {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return err
}

// load rebuilds one aggregate's state from its events in the log: the
// authority commands decide on. Unknown event types are skipped; it returns
// ErrNotFound when the aggregate has no event it knows.
func load[T any](ctx context.Context, log EventLog, agg Aggregate, apply func(T, Event, uint64, time.Time) T) (T, error) {
	var state T
	if !ValidID(agg.ID) {
		return state, fmt.Errorf("domain: %s: %w", agg, ErrNotFound)
	}
	recs, err := log.Load(ctx, agg)
	if err != nil {
		return state, err
	}
	found := false
	for _, r := range recs {
		e, err := Decode(r.Envelope)
		if errors.Is(err, ErrUnknownEventType) {
			continue
		}
		if err != nil {
			return state, fmt.Errorf("domain: %s at %d: %w", agg, r.Seq, err)
		}
		state, found = apply(state, e, r.Seq, r.Envelope.Time), true
	}
	if !found {
		return state, fmt.Errorf("domain: %s: %w", agg, ErrNotFound)
	}
	return state, nil
}

// keyCache keeps parsed public keys by kid; a key's JWK never changes, so
// an entry lives as long as the process.
type keyCache struct {
	mu sync.RWMutex
	m  map[string]cachedKey
}

type cachedKey struct {
	key any
	alg string
}

// verificationKeys returns a KeyLookup over the announced keys that still
// verify at now.
func (s *Service) verificationKeys(ctx context.Context, now time.Time) (KeyLookup, error) {
	if s.ports.Keys == nil {
		return nil, errors.New("domain: no key reader")
	}
	keys, err := s.ports.Keys.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	return func(kid string) (any, string, bool) {
		for _, k := range keys {
			if k.ID != kid || !k.Verifies(now) {
				continue
			}
			return s.keys.get(k)
		}
		return nil, "", false
	}, nil
}

func (c *keyCache) get(k SigningKey) (any, string, bool) {
	c.mu.RLock()
	ck, ok := c.m[k.ID]
	c.mu.RUnlock()
	if ok {
		return ck.key, ck.alg, true
	}
	jwk, err := ParsePublicJWK(k.PublicKey)
	if err != nil {
		return nil, "", false
	}
	ck = cachedKey{key: jwk.Key, alg: k.Algorithm}
	c.mu.Lock()
	c.m[k.ID] = ck
	c.mu.Unlock()
	return ck.key, ck.alg, true
}
