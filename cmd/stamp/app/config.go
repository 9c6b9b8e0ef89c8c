package app

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/httpapi"
)

// Config is every setting of stamp. Each is filled from, in rising order of
// precedence: its default, the JSON configuration file, its STAMP_*
// environment variable, its command-line flag. Validate checks the result
// and names the bad setting.
type Config struct {
	DataDir  string `json:"data_dir"`
	HTTPAddr string `json:"http_addr"`
	Issuer   string `json:"issuer"`

	NATSURL      string   `json:"nats_url"`
	NATSUser     string   `json:"nats_user"`
	NATSPassword string   `json:"nats_password"`
	NATSCreds    string   `json:"nats_creds"`
	NATSNkey     string   `json:"nats_nkey"`
	NATSHost     string   `json:"nats_host"`
	NATSPort     int      `json:"nats_port"`
	Replicas     int      `json:"replicas"`
	Sync         string   `json:"sync"`
	StreamMaxAge Duration `json:"stream_max_age"`
	// RepairReadModels: see node_integrity.go.
	RepairReadModels bool `json:"repair_read_models"`
	// SnapshotInterval: see snapshots.go.
	SnapshotInterval SnapshotInterval `json:"snapshot_interval"`

	SigningAlgorithm  string `json:"signing_algorithm"`
	PrivateKeyFile    string `json:"private_key_file"`
	PrivateKey        string `json:"private_key"`
	SealingKeyFile    string `json:"sealing_key_file"`
	SealingKey        string `json:"sealing_key"`
	LogSigningKeyFile string `json:"log_signing_key_file"`
	LogSigningKey     string `json:"log_signing_key"`

	PasswordGrant bool `json:"password_grant"`
	ImplicitGrant bool `json:"implicit_grant"`

	Scopes        []domain.Scope `json:"scopes"`
	DefaultScopes []string       `json:"default_scopes"`

	AccessTokenTTL       Duration `json:"access_token_ttl"`
	ClientCredentialsTTL Duration `json:"client_credentials_ttl"`
	RefreshTokenTTL      Duration `json:"refresh_token_ttl"`
	// RefreshRotationGrace: see domain.Config.RefreshRotationGrace.
	RefreshRotationGrace Duration `json:"refresh_rotation_grace"`
	PersonalAccessTTL    Duration `json:"personal_access_token_ttl"`
	SessionTTL           Duration `json:"session_ttl"`

	// VerifyAcceptsCookie: see httpapi.Options.VerifyAcceptsCookie.
	VerifyAcceptsCookie bool `json:"verify_accepts_cookie"`

	// The external password check (see password_hook.go).
	PasswordHookURL     string   `json:"password_hook_url"`
	PasswordHookSecret  string   `json:"password_hook_secret"`
	PasswordHookTimeout Duration `json:"password_hook_timeout"`

	// Login and consent delegation (see delegation.go).
	LoginURL   string `json:"login_url"`
	ConsentURL string `json:"consent_url"`
	// ChallengeTTL: see domain.Config.ChallengeTTL.
	ChallengeTTL Duration `json:"challenge_ttl"`

	TrustedProxies       []string `json:"trusted_proxies"`
	PasswordHashMemoryMB int      `json:"password_hash_memory_mb"`
	PasswordHashWait     Duration `json:"password_hash_wait"`
	// PasswordHashMemoryKiB, PasswordHashTime and PasswordHashThreads
	// are the argon2id cost of new password hashes (see
	// domain.PasswordHashing).
	PasswordHashMemoryKiB int `json:"password_hash_memory_kib"`
	PasswordHashTime      int `json:"password_hash_time"`
	PasswordHashThreads   int `json:"password_hash_threads"`

	// ReadConsistency is "strong" (catch up with the log before answers
	// that depend on it, see cmd/stamp/internal/freshness) or "local".
	ReadConsistency string `json:"read_consistency"`
	// FreshnessTimeout bounds a catch-up; past it the request is 503.
	FreshnessTimeout Duration `json:"freshness_timeout"`

	Listeners ListenersConfig `json:"listeners"`

	// HealthConfig: deadlines, the watchdog and readiness (health.go).
	HealthConfig
	// ObserveConfig: metrics and tracing (observe_config.go).
	ObserveConfig

	// ArchiveConfig: compression and the hot window (config_archive.go).
	ArchiveConfig
	// CheckpointConfig: signed log checkpoints (config_checkpoint.go).
	CheckpointConfig
	// RuntimeConfig: the serving process's memory limit and profiles
	// (config_runtime.go).
	RuntimeConfig

	LogLevel        string   `json:"log_level"`
	LogFormat       string   `json:"log_format"`
	ShutdownTimeout Duration `json:"shutdown_timeout"`

	// AccessLog writes one log record per HTTP request (see
	// httpapi.Options.AccessLog).
	AccessLog bool `json:"access_log"`

	// BenchCeilingRoute serves GET /bench/ceiling, the trivial JSON
	// handler `stamp bench` measures as its ceiling (see
	// httpapi.Options.BenchCeiling); `serve --dev` turns it on too.
	BenchCeilingRoute bool `json:"bench_ceiling_route"`

	// Reissue lets a server of a cluster announce another issuer than the
	// cluster's (see issuer.go). Only `stamp serve --reissue` sets it,
	// never the file or the environment, so that it is a deliberate act.
	Reissue bool `json:"-"`
	// Dev serves POST /dev/tokens, which mints tokens without credentials
	// (see dev.go). Only `stamp serve --dev` sets it.
	Dev bool `json:"-"`
	// derivedIssuer is the issuer withDerived derived from HTTPAddr when
	// none was set.
	derivedIssuer string
}

// Duration is a time.Duration written as text ("1h30m") in the file.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("want a duration such as \"1h\"")
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// DefaultConfig returns the defaults: embedded NATS on 127.0.0.1:4222,
// durable appends, HTTP on 127.0.0.1:8080, RS256, one-hour tokens.
func DefaultConfig() Config {
	return Config{
		DataDir:               "stamp-data",
		HTTPAddr:              "127.0.0.1:8080",
		NATSHost:              "127.0.0.1",
		NATSPort:              4222,
		Sync:                  "always",
		SigningAlgorithm:      domain.RS256,
		AccessTokenTTL:        Duration(time.Hour),
		RefreshTokenTTL:       Duration(30 * 24 * time.Hour),
		PersonalAccessTTL:     Duration(365 * 24 * time.Hour),
		SessionTTL:            Duration(2 * time.Hour),
		PasswordHashMemoryMB:  domain.DefaultPasswordHashBudget >> 20,
		PasswordHashWait:      Duration(domain.DefaultPasswordHashWait),
		PasswordHashMemoryKiB: int(domain.DefaultPasswordHashing().MemoryKiB),
		PasswordHashTime:      int(domain.DefaultPasswordHashing().Time),
		PasswordHashThreads:   int(domain.DefaultPasswordHashing().Threads),
		PasswordHookTimeout:   Duration(httpapi.DefaultPasswordHookTimeout),
		ChallengeTTL:          Duration(domain.ChallengeLifetime),
		ReadConsistency:       consistencyStrong,
		FreshnessTimeout:      Duration(defaultFreshnessTimeout),
		LogLevel:              "info",
		LogFormat:             "text",
		AccessLog:             true,
		ShutdownTimeout:       Duration(15 * time.Second),
		HealthConfig:          defaultHealthConfig(),
		ObserveConfig:         defaultObserveConfig(),
		ArchiveConfig:         defaultArchiveConfig(),
		CheckpointConfig:      defaultCheckpointConfig(),
	}
}

// setting is one row of the settings table: its flag, its environment
// variable, what it means, and how text sets it. The same table drives the
// flags, the environment and the README's configuration table.
type setting struct {
	name  string // flag name; the variable is STAMP_ + upper snake case
	usage string
	set   func(c *Config, v string) error
}

// errWantBool is how a boolean setting refuses a text that is not one.
var errWantBool = errors.New("want true or false")

// isBool reports whether s is a boolean setting: one that refuses a
// non-boolean text with errWantBool.
func (s setting) isBool() bool {
	var c Config
	return errors.Is(s.set(&c, "?"), errWantBool)
}

func (s setting) env() string {
	return "STAMP_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

func settings() []setting {
	str := func(f func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error { *f(c) = v; return nil }
	}
	num := func(f func(*Config) *int) func(*Config, string) error {
		return func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("want a whole number, got %q", v)
			}
			*f(c) = n
			return nil
		}
	}
	dur := func(f func(*Config) *Duration) func(*Config, string) error {
		return func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("want a duration such as 1h, got %q", v)
			}
			*f(c) = Duration(d)
			return nil
		}
	}
	boolean := func(f func(*Config) *bool) func(*Config, string) error {
		return func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%w, got %q", errWantBool, v)
			}
			*f(c) = b
			return nil
		}
	}
	list := func(f func(*Config) *[]string) func(*Config, string) error {
		return func(c *Config, v string) error { *f(c) = splitList(v); return nil }
	}
	return append([]setting{
		{"data-dir", "directory for the event store, read models and keys", str(func(c *Config) *string { return &c.DataDir })},
		{"http-addr", "address the HTTP server listens on", str(func(c *Config) *string { return &c.HTTPAddr })},
		{"issuer", "public base URL, the tokens' iss (default http://<http-addr>; required with --nats-url: one for the whole cluster)", str(func(c *Config) *string { return &c.Issuer })},
		{"nats-url", "use this NATS server or cluster instead of the embedded one", str(func(c *Config) *string { return &c.NATSURL })},
		{"nats-user", "NATS user name (with --nats-url)", str(func(c *Config) *string { return &c.NATSUser })},
		{"nats-password", "NATS password (with --nats-url)", str(func(c *Config) *string { return &c.NATSPassword })},
		{"nats-creds", "NATS credentials file (with --nats-url)", str(func(c *Config) *string { return &c.NATSCreds })},
		{"nats-nkey", "NATS nkey seed file (with --nats-url; the embedded server's are in <data-dir>/keys)", str(func(c *Config) *string { return &c.NATSNkey })},
		{"nats-host", "host the embedded NATS server listens on", str(func(c *Config) *string { return &c.NATSHost })},
		{"nats-port", "port of the embedded NATS server (-1: random)", num(func(c *Config) *int { return &c.NATSPort })},
		{"replicas", "stream replicas (default 1 embedded, 3 with --nats-url)", num(func(c *Config) *int { return &c.Replicas })},
		{"sync", "embedded store: 'always' fsyncs before every acknowledgement, 'interval' every 2 minutes", str(func(c *Config) *string { return &c.Sync })},
		{"stream-max-age", "delete events older than this from the stream (0: keep forever; breaks audit and rebuild past it)", dur(func(c *Config) *Duration { return &c.StreamMaxAge })},
		{"repair-read-models", "at start, rebuild read models that are damaged or ahead of the log from the log (the old ones are moved aside) instead of refusing to start", boolean(func(c *Config) *bool { return &c.RepairReadModels })},
		{"snapshot-interval", "write a signed read-model snapshot to the object store every so many events (100000) or so much time (1h), from which stamp replay starts (0: off)", func(c *Config, v string) error {
			p, err := parseSnapshotInterval(v)
			c.SnapshotInterval = p
			return err
		}},
		{"signing-algorithm", "RS256, ES256 or EdDSA for generated keys", str(func(c *Config) *string { return &c.SigningAlgorithm })},
		{"private-key-file", "PEM file of the signing key (default <data-dir>/keys/private.pem)", str(func(c *Config) *string { return &c.PrivateKeyFile })},
		{"private-key", "PEM text of the signing key (as Passport's PASSPORT_PRIVATE_KEY)", str(func(c *Config) *string { return &c.PrivateKey })},
		{"sealing-key-file", "file of the key that seals password hashes and signs sessions (default <data-dir>/keys/sealing.key)", str(func(c *Config) *string { return &c.SealingKeyFile })},
		{"sealing-key", "the sealing key itself, 64 hex digits (for clusters: every instance needs the same)", str(func(c *Config) *string { return &c.SealingKey })},
		{"log-signing-key-file", "file of the Ed25519 key that signs every event appended to the log (default <data-dir>/keys/log-signing.key)", str(func(c *Config) *string { return &c.LogSigningKeyFile })},
		{"log-signing-key", "the log-signing key itself, its 32-byte seed in base64 (for clusters: every instance needs the same)", str(func(c *Config) *string { return &c.LogSigningKey })},
		{"password-grant", "enable the password grant (off, as in Passport 12+)", boolean(func(c *Config) *bool { return &c.PasswordGrant })},
		{"implicit-grant", "enable the implicit grant (off, as in Passport 12+)", boolean(func(c *Config) *bool { return &c.ImplicitGrant })},
		{"scopes", "scope catalogue, 'id=description;id2=description2'", func(c *Config, v string) error {
			s, err := parseScopes(v)
			c.Scopes = s
			return err
		}},
		{"default-scopes", "scopes a request naming none receives, comma-separated", list(func(c *Config) *[]string { return &c.DefaultScopes })},
		{"access-token-ttl", "lifetime of access tokens", dur(func(c *Config) *Duration { return &c.AccessTokenTTL })},
		{"client-credentials-ttl", "lifetime of client-credentials tokens (default: access-token-ttl)", dur(func(c *Config) *Duration { return &c.ClientCredentialsTTL })},
		{"refresh-token-ttl", "lifetime of refresh tokens", dur(func(c *Config) *Duration { return &c.RefreshTokenTTL })},
		{"refresh-rotation-grace", "how long a rotated-out refresh token presented again is refused without revoking its family (default 0: at once reuse; at most 1m)", dur(func(c *Config) *Duration { return &c.RefreshRotationGrace })},
		{"personal-access-token-ttl", "lifetime of personal access tokens", dur(func(c *Config) *Duration { return &c.PersonalAccessTTL })},
		{"session-ttl", "lifetime of a web login", dur(func(c *Config) *Duration { return &c.SessionTTL })},
		{"verify-accepts-cookie", "let /auth/verify accept, without a bearer token, the dashboard's cookie token (stamp_token) with its CSRF value (the XSRF-TOKEN cookie's) in X-CSRF-TOKEN or X-XSRF-TOKEN, for a first-party single-page app calling its own API through the proxy (off: the cookie alone is 401)", boolean(func(c *Config) *bool { return &c.VerifyAcceptsCookie })},
		{"password-hook-url", "check passwords (password grant and built-in login) by POSTing {username, password}, signed in X-Stamp-Signature, to this URL of your app, which answers 200 {subject} or 401; down or slow fails closed (503) (default: none, stamp checks its own users' passwords)", str(func(c *Config) *string { return &c.PasswordHookURL })},
		{"password-hook-secret", "the secret the password hook's requests are signed with (HMAC-SHA256, as the webhooks; at least 16 bytes); required with password-hook-url", str(func(c *Config) *string { return &c.PasswordHookSecret })},
		{"password-hook-timeout", "how long a password check may take before it fails closed (503 with Retry-After)", dur(func(c *Config) *Duration { return &c.PasswordHookTimeout })},
		{"login-url", "delegate the login of /oauth/authorize to this page of your app, which gets ?login_challenge=… and answers it through the admin API (default: none, the built-in login page)", str(func(c *Config) *string { return &c.LoginURL })},
		{"consent-url", "delegate the consent of /oauth/authorize to this page of your app, which gets ?consent_challenge=… and answers it through the admin API (default: none, the built-in approval screen)", str(func(c *Config) *string { return &c.ConsentURL })},
		{"challenge-ttl", "how long a login or consent challenge may be answered and brought back by the browser", dur(func(c *Config) *Duration { return &c.ChallengeTTL })},
		{"trusted-proxies", "CIDRs of the reverse proxies in front of stamp, comma-separated: their X-Forwarded-For/Forwarded name the client address rate limits count (default: none, the headers are ignored)", list(func(c *Config) *[]string { return &c.TrustedProxies })},
		{"password-hash-memory-mb", "memory argon2id password checks may take at once, in MiB (password-hash-memory-kib each, 64 MiB by default; at most 2 per CPU run)", num(func(c *Config) *int { return &c.PasswordHashMemoryMB })},
		{"password-hash-wait", "how long a login waits for a password hashing slot before 503", dur(func(c *Config) *Duration { return &c.PasswordHashWait })},
		{"password-hash-memory-kib", "argon2id memory of a new password hash, in KiB (existing hashes verify at the cost they were made with)", num(func(c *Config) *int { return &c.PasswordHashMemoryKiB })},
		{"password-hash-time", "argon2id passes of a new password hash", num(func(c *Config) *int { return &c.PasswordHashTime })},
		{"password-hash-threads", "argon2id lanes of a new password hash", num(func(c *Config) *int { return &c.PasswordHashThreads })},
		{"read-consistency", "strong: before introspection, bearer and /auth/verify validation, the JSON API's listings and any \"unknown token/code\" answer, catch up with the stream's last sequence (one coalesced JetStream request), so what any instance acknowledged is honoured; local: answer from this instance's read models as they are (eventually consistent across instances)", str(func(c *Config) *string { return &c.ReadConsistency })},
		{"freshness-timeout", "how long a strong read may wait to catch up with the log before it answers 503 temporarily_unavailable with Retry-After", dur(func(c *Config) *Duration { return &c.FreshnessTimeout })},
		{"listeners", "listeners to run, JSON: {\"revoke_old_tokens\":true,\"prune_old_tokens\":3,\"webhooks\":[{\"name\":\"app\",\"url\":\"https://…\",\"secret\":\"…\",\"types\":[\"AccessTokenRevoked\"]}]}", func(c *Config, v string) error {
			lc, err := parseListeners(v)
			c.Listeners = lc
			return err
		}},
		{"log-level", "debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel })},
		{"log-format", "text or json", str(func(c *Config) *string { return &c.LogFormat })},
		{"access-log", "log one line per HTTP request (method, route, status, bytes, duration, client address, request id; never a query, header or form value): true or false", boolean(func(c *Config) *bool { return &c.AccessLog })},
		{"bench-ceiling-route", "serve GET /bench/ceiling, a constant JSON answer `stamp bench` measures as the ceiling of the server and load generator (not part of the API; on with serve --dev)", boolean(func(c *Config) *bool { return &c.BenchCeilingRoute })},
		{"shutdown-timeout", "how long in-flight requests may finish on SIGTERM", dur(func(c *Config) *Duration { return &c.ShutdownTimeout })},
	}, append(append(append(append(healthSettings(dur, num, boolean), observeSettings(str, boolean)...), archiveSettings(str, dur)...), checkpointSettings(num)...), runtimeSettings(str)...)...)
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func parseScopes(v string) ([]domain.Scope, error) {
	var out []domain.Scope
	for _, part := range strings.Split(v, ";") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		id, desc, _ := strings.Cut(part, "=")
		out = append(out, domain.Scope{ID: strings.TrimSpace(id), Description: strings.TrimSpace(desc)})
	}
	return out, nil
}

// configFlags holds the flag set of one command and the settings it knows.
type configFlags struct {
	fs     *flag.FlagSet
	config *string
	values map[string]*string
}

// newConfigFlags registers the config file flag and every setting on fs,
// except those fs already defines for the command's own use (client
// create's --scopes): those settings still come from file and environment.
func newConfigFlags(fs *flag.FlagSet) *configFlags {
	cf := &configFlags{fs: fs, values: map[string]*string{}}
	cf.config = fs.String("config", "", "JSON configuration file (env STAMP_CONFIG)")
	for _, s := range settings() {
		if fs.Lookup(s.name) != nil {
			continue
		}
		if s.isBool() { // a real boolean flag: --password-grant alone is true
			v := new(string)
			fs.Var(boolSetting{v}, s.name, s.usage+" (env "+s.env()+")")
			cf.values[s.name] = v
			continue
		}
		cf.values[s.name] = fs.String(s.name, "", s.usage+" (env "+s.env()+")")
	}
	return cf
}

// load builds the configuration after fs.Parse: defaults, then file, then
// environment, then the flags that were set.
func (cf *configFlags) load(getenv func(string) string) (Config, error) {
	c := DefaultConfig()
	path := *cf.config
	if path == "" {
		path = getenv("STAMP_CONFIG")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return c, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	set := map[string]bool{}
	cf.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range settings() {
		if v := getenv(s.env()); v != "" {
			if err := s.set(&c, v); err != nil {
				return c, fmt.Errorf("config: %s: %w", s.env(), err)
			}
		}
		if v, ok := cf.values[s.name]; ok && set[s.name] {
			if err := s.set(&c, *v); err != nil {
				return c, fmt.Errorf("config: --%s: %w", s.name, err)
			}
		}
	}
	c = c.withDerived() // see config_derived.go
	return c, c.Validate()
}

// Validate checks every setting and names the first bad setting in its
// error. It changes nothing: the defaults that derive from other settings
// (the issuer, the key files, the replicas, the client-credentials
// lifetime) are filled before it, by LoadConfig.
func (c Config) Validate() error {
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("config: %s: %s", name, fmt.Sprintf(format, args...))
	}
	if c.DataDir == "" {
		return bad("data_dir", "is required")
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return bad("http_addr", "%q is not host:port", c.HTTPAddr)
	}
	if c.Issuer == "" {
		return bad("issuer", "is required")
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return bad("issuer", "%q is not an http(s) URL without query or fragment", c.Issuer)
	}
	if c.NATSURL == "" && (c.NATSPort < -1 || c.NATSPort > 65535) {
		return bad("nats_port", "%d is not a port", c.NATSPort)
	}
	if err := c.validateNATSCredentials(); err != nil {
		return err
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return bad("replicas", "want 1 to 5, got %d", c.Replicas)
	}
	if c.Sync != "always" && c.Sync != "interval" {
		return bad("sync", "want always or interval, got %q", c.Sync)
	}
	if c.StreamMaxAge < 0 {
		return bad("stream_max_age", "must not be negative")
	}
	if !domain.ValidAlgorithm(c.SigningAlgorithm) {
		return bad("signing_algorithm", "want RS256, ES256 or EdDSA, got %q", c.SigningAlgorithm)
	}
	for _, f := range []struct{ name, v string }{
		{"private_key_file", c.PrivateKeyFile}, {"sealing_key_file", c.SealingKeyFile}, {"log_signing_key_file", c.LogSigningKeyFile},
	} {
		if f.v == "" {
			return bad(f.name, "is required")
		}
	}
	if c.SealingKey != "" {
		if b, err := hex.DecodeString(c.SealingKey); err != nil || len(b) != domain.SealingKeySize {
			return bad("sealing_key", "want %d hex digits", 2*domain.SealingKeySize)
		}
	}
	if c.LogSigningKey != "" {
		if _, err := domain.ParseLogPrivateKey(c.LogSigningKey); err != nil {
			return bad("log_signing_key", "want an Ed25519 seed: 32 bytes in base64")
		}
	}
	if _, err := domain.NewScopes(domain.WithAdminScope(c.Scopes), c.DefaultScopes); err != nil {
		name := "scopes"
		if strings.Contains(err.Error(), "default") {
			name = "default_scopes"
		}
		return bad(name, "%v", strings.TrimPrefix(err.Error(), "domain: "))
	}
	if c.AccessTokenTTL <= 0 {
		return bad("access_token_ttl", "must be positive")
	}
	if c.ClientCredentialsTTL <= 0 {
		return bad("client_credentials_ttl", "must be positive")
	}
	for _, d := range []struct {
		name string
		v    Duration
	}{{"refresh_token_ttl", c.RefreshTokenTTL}, {"personal_access_token_ttl", c.PersonalAccessTTL}, {"session_ttl", c.SessionTTL}} {
		if d.v <= 0 {
			return bad(d.name, "must be positive")
		}
	}
	if _, err := c.trustedProxies(); err != nil {
		return bad("trusted_proxies", "%v", err)
	}
	cost, err := c.passwordHashing()
	if err != nil {
		return err
	}
	if one := cost.MemoryBytes(); int64(c.PasswordHashMemoryMB)<<20 < one {
		return bad("password_hash_memory_mb", "want at least %d (one hash), got %d", (one+1<<20-1)>>20, c.PasswordHashMemoryMB)
	}
	if c.PasswordHashWait <= 0 {
		return bad("password_hash_wait", "must be positive")
	}
	if c.ReadConsistency != consistencyStrong && c.ReadConsistency != consistencyLocal {
		return bad("read_consistency", "want %s or %s, got %q", consistencyStrong, consistencyLocal, c.ReadConsistency)
	}
	if c.FreshnessTimeout <= 0 {
		return bad("freshness_timeout", "must be positive")
	}
	if c.RefreshRotationGrace < 0 || time.Duration(c.RefreshRotationGrace) > domain.MaxRefreshRotationGrace {
		return bad("refresh_rotation_grace", "want 0 to %s, got %s", domain.MaxRefreshRotationGrace, time.Duration(c.RefreshRotationGrace))
	}
	if err := c.validatePasswordHook(); err != nil {
		return err
	}
	if err := c.validateDelegation(); err != nil {
		return err
	}
	if err := c.Listeners.validate(); err != nil {
		return bad("listeners", "%v", err)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return bad("log_level", "%v", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return bad("log_format", "want text or json, got %q", c.LogFormat)
	}
	if c.ShutdownTimeout <= 0 {
		return bad("shutdown_timeout", "must be positive")
	}
	if err := c.ObserveConfig.validate(); err != nil {
		return err
	}
	if err := c.RuntimeConfig.validate(); err != nil {
		return err
	}
	if err := c.validateArchive(); err != nil {
		return err
	}
	if err := c.CheckpointConfig.validate(); err != nil {
		return err
	}
	return c.HealthConfig.validate()
}

// LoadConfig builds the configuration from command-line flags (args) and
// the environment (getenv), over the defaults and the file --config or
// STAMP_CONFIG names.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("stamp", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := newConfigFlags(fs)
	if err := fs.Parse(joinBoolValues(args)); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("config: unexpected argument %q", fs.Arg(0))
	}
	return cf.load(getenv)
}

// trustedProxies parses TrustedProxies: CIDRs, or single addresses.
func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range c.TrustedProxies {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or an address", v)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// passwordHashing returns the argon2id cost of new password hashes, or
// an error naming the setting that is out of bounds.
func (c *Config) passwordHashing() (domain.PasswordHashing, error) {
	const maxThreads = 255
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("config: %s: %s", name, fmt.Sprintf(format, args...))
	}
	switch {
	case c.PasswordHashThreads < 1 || c.PasswordHashThreads > maxThreads:
		return domain.PasswordHashing{}, bad("password_hash_threads", "want 1 to %d, got %d", maxThreads, c.PasswordHashThreads)
	case c.PasswordHashMemoryKiB < 8*c.PasswordHashThreads || c.PasswordHashMemoryKiB > domain.MaxPasswordHashMemoryKiB:
		return domain.PasswordHashing{}, bad("password_hash_memory_kib", "want %d (8 per thread) to %d, got %d", 8*c.PasswordHashThreads, domain.MaxPasswordHashMemoryKiB, c.PasswordHashMemoryKiB)
	case c.PasswordHashTime < 1 || c.PasswordHashTime > domain.MaxPasswordHashTime:
		return domain.PasswordHashing{}, bad("password_hash_time", "want 1 to %d, got %d", domain.MaxPasswordHashTime, c.PasswordHashTime)
	}
	p := domain.PasswordHashing{MemoryKiB: uint32(c.PasswordHashMemoryKiB), Time: uint32(c.PasswordHashTime), Threads: uint8(c.PasswordHashThreads)}
	if err := p.Validate(); err != nil {
		return domain.PasswordHashing{}, fmt.Errorf("config: password hashing: %w", err)
	}
	return p, nil
}
