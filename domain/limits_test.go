package domain

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
)

// countingLimiter is a Limiter without refill: a key may go while it has
// fewer failures than its rate's burst. The rules are tested against it;
// the token buckets themselves are cmd/stamp's.
type countingLimiter struct {
	mu       sync.Mutex
	failures map[string]int
}

func (l *countingLimiter) Wait(_ context.Context, r Rate, key string) (time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failures[r.Name+"|"+key] >= r.Burst {
		return r.Every, nil
	}
	return 0, nil
}

func (l *countingLimiter) Fail(_ context.Context, r Rate, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures[r.Name+"|"+key]++
	return nil
}

func (l *countingLimiter) Reset(_ context.Context, r Rate, key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, r.Name+"|"+key)
	return nil
}

// testLimits are small, so that the tables stay short.
var testLimits = Limits{
	LoginPair: Rate{"login-pair", 3, time.Minute}, LoginAccount: Rate{"login-account", 5, time.Minute},
	LoginAddress:  Rate{"login-address", 8, time.Minute},
	ClientAddress: Rate{"client-address", 3, time.Minute}, Client: Rate{"client", 5, time.Minute},
	UserCodeAddress: Rate{"user-code-address", 3, time.Minute}, UserCodeUser: Rate{"user-code-user", 4, time.Minute},
}

// limitedHarness is newHarness with a countingLimiter and testLimits, and
// cfg changed by edit.
func limitedHarness(t *testing.T, edit func(*Config)) harness {
	t.Helper()
	return newHarness(t, EdDSA).withLimiter(t, edit)
}

// withLimiter returns h with a Service over the same log that has a new
// countingLimiter and testLimits, and its cfg changed by edit.
func (h harness) withLimiter(t *testing.T, edit func(*Config)) harness {
	t.Helper()
	cfg, ports := h.svc.cfg, h.svc.ports
	cfg.Limits = testLimits
	if edit != nil {
		edit(&cfg)
	}
	ports.Limiter = &countingLimiter{failures: map[string]int{}}
	svc, err := NewService(cfg, ports, h.svc.Signer())
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	return h
}

// outcome names what an attempt got.
func outcome(err error) string {
	var retry *RetryError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &retry) && errors.Is(err, ErrRateLimited) && retry.After > 0:
		return "limited"
	case errors.Is(err, ErrAccessDenied), errors.Is(err, ErrInvalidClient), errors.Is(err, ErrInvalidGrant):
		return "refused"
	}
	return err.Error()
}

// TestLoginLimits: only failures count; per (account, address), per
// account and per address; a success clears its pair only.
func TestLoginLimits(t *testing.T) {
	type try struct {
		n           int // times
		email, from string
		right       bool
		want        string
	}
	const ada, bob = "ada@example.com", "bob@example.com"
	tests := []struct {
		name  string
		tries []try
	}{
		{"successes never count", []try{{8, ada, "A", true, "ok"}}},
		{"the pair runs dry; the owner elsewhere logs in", []try{
			{3, ada, "A", false, "refused"},
			{1, ada, "A", true, "limited"},
			{1, ada, "A", false, "limited"},
			{1, ada, "B", true, "ok"},
			{1, bob, "A", true, "ok"},
		}},
		{"a success clears the pair", []try{
			{2, ada, "A", false, "refused"}, {1, ada, "A", true, "ok"},
			{2, ada, "A", false, "refused"}, {1, ada, "A", true, "ok"},
			{1, ada, "A", false, "refused"}, // the pair's third since the success; the account's fifth
			{1, ada, "A", false, "limited"}, // the account is spent
		}},
		{"the account from every address", []try{
			{3, ada, "A", false, "refused"}, {2, ada, "B", false, "refused"},
			{1, ada, "C", true, "limited"},
			{1, bob, "C", true, "ok"},
		}},
		{"the address for every account", []try{
			{3, ada, "A", false, "refused"}, {3, bob, "A", false, "refused"}, {2, "cy@example.com", "A", false, "refused"},
			{1, "dee@example.com", "A", true, "limited"},
			{1, "dee@example.com", "B", true, "ok"},
		}},
		{"an unknown account counts the same", []try{
			{3, "nobody@example.com", "A", false, "refused"},
			{1, "nobody@example.com", "A", false, "limited"},
		}},
		{"IPv6 per /64", []try{
			{3, ada, "2001:db8:1:2::1", false, "refused"},
			{1, ada, "2001:db8:1:2::99", true, "limited"},
			{1, ada, "2001:db8:1:3::1", true, "ok"},
		}},
	}
	base := newHarness(t, EdDSA) // users registered once: each costs a hash
	for _, email := range []string{ada, bob, "cy@example.com", "dee@example.com"} {
		base.user(t, email)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := base.withLimiter(t, nil)
			ctx := context.Background()
			for i, try := range tt.tries {
				password := "wrong horse"
				if try.right {
					password = "correct horse"
				}
				for j := range try.n {
					_, err := h.svc.AuthenticateUser(ctx, try.email, password, try.from)
					if got := outcome(err); got != try.want {
						t.Fatalf("try %d.%d (%s from %s, right %v): got %s; want %s", i, j, try.email, try.from, try.right, got, try.want)
					}
				}
			}
		})
	}
}

// TestClientAuthenticationLimits: failures per address are refused
// before the credentials are checked; failures per client id are
// refused once spent, but a correct secret always passes.
func TestClientAuthenticationLimits(t *testing.T) {
	type try struct {
		n      int
		id     string // "" for the client's id
		secret string // "right", or a wrong one
		from   string
		want   string
	}
	tests := []struct {
		name  string
		tries []try
	}{
		{"successes never count", []try{{10, "", "right", "A", "ok"}}},
		{"an address runs dry", []try{
			{3, "", "wrong", "A", "refused"},
			{1, "", "right", "A", "limited"},
			{1, "", "right", "B", "ok"},
		}},
		{"a client id runs dry, its secret still works", []try{
			{3, "", "wrong", "A", "refused"}, {2, "", "wrong", "B", "refused"},
			{1, "", "wrong", "C", "limited"},
			{1, "", "right", "C", "ok"},
		}},
		{"unknown and malformed ids count per address", []try{
			{2, "00000000-0000-4000-8000-000000000000", "wrong", "A", "refused"},
			{1, "not an id", "wrong", "A", "refused"},
			{1, "", "right", "A", "limited"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := limitedHarness(t, nil)
			c, secret := h.client(t, RegisterClient{Name: "machine", Grants: []string{GrantClientCredentials}})
			ctx := context.Background()
			for i, try := range tt.tries {
				cred := ClientCredentials{ID: try.id, Secret: try.secret, Remote: try.from}
				if cred.ID == "" {
					cred.ID = c.ID
				}
				if try.secret == "right" {
					cred.Secret = secret
				}
				for j := range try.n {
					_, err := h.svc.AuthenticateClient(ctx, cred)
					if got := outcome(err); got != try.want {
						t.Fatalf("try %d.%d (%+v): got %s; want %s", i, j, try, got, try.want)
					}
				}
			}
			// The token endpoint answers through the same check.
			_, err := h.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: c.ID, Secret: secret, Remote: "Z"}})
			if err != nil {
				t.Errorf("a fresh address with the secret: %v", err)
			}
		})
	}
}

// TestUserCodeLimits: wrong user codes count per address and per user,
// and a spent one is refused before the lookup.
func TestUserCodeLimits(t *testing.T) {
	h := limitedHarness(t, nil)
	ctx := context.Background()
	ada, bob := h.user(t, "ada@example.com"), h.user(t, "bob@example.com")
	c, _ := h.client(t, RegisterClient{Name: "tv", Grants: []string{GrantDeviceCode}, Public: true})
	da, err := h.svc.DeviceAuthorize(ctx, ClientCredentials{ID: c.ID}, "read")
	if err != nil {
		t.Fatal(err)
	}
	tries := []struct {
		n          int
		user       User
		code, from string
		want       string
	}{
		{3, ada, "ZZZZ-ZZZZ", "A", "refused"},
		{1, ada, da.UserCode, "A", "limited"}, // the address is spent
		{1, bob, da.UserCode, "A", "limited"},
		{1, ada, "ZZZZ-ZZZZ", "B", "refused"}, // ada's fourth
		{1, ada, da.UserCode, "C", "limited"}, // ada is spent
		{1, bob, da.UserCode, "C", "ok"},
	}
	for i, try := range tries {
		for j := range try.n {
			_, err := h.svc.LookupUserCode(ctx, try.user, try.code, try.from)
			if got := outcome(err); got != try.want {
				t.Fatalf("try %d.%d (%s, %s from %s): got %s; want %s", i, j, try.user.Email, try.code, try.from, got, try.want)
			}
		}
	}
}

// TestPasswordHashSlots: with every slot taken, a password check waits
// PasswordHashWait and is refused as temporarily unavailable; once a slot
// frees it goes ahead.
func TestPasswordHashSlots(t *testing.T) {
	h := limitedHarness(t, func(c *Config) { c.PasswordHashes, c.PasswordHashWait = 1, 20*time.Millisecond })
	ctx := context.Background()
	h.user(t, "ada@example.com")
	release, err := h.svc.hashSlot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.AuthenticateUser(ctx, "ada@example.com", "correct horse", "A")
	var retry *RetryError
	if !errors.Is(err, ErrTemporarilyUnavailable) || !errors.As(err, &retry) || retry.After <= 0 {
		t.Errorf("every slot taken, a login: got %v; want temporarily_unavailable to retry", err)
	}
	if _, err := h.svc.RegisterUser(ctx, Actor{Kind: ActorCLI}, "bob@example.com", "", "correct horse"); !errors.Is(err, ErrTemporarilyUnavailable) {
		t.Errorf("every slot taken, a registration: got %v; want temporarily_unavailable", err)
	}
	// A refusal for want of a slot is not a failed attempt.
	if got := h.svc.ports.Limiter.(*countingLimiter).failures; len(got) != 0 {
		t.Errorf("failures counted: %v; want none", got)
	}
	release()
	if _, err := h.svc.AuthenticateUser(ctx, "ada@example.com", "correct horse", "A"); err != nil {
		t.Errorf("with a free slot: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	release, _ = h.svc.hashSlot(ctx)
	defer release()
	cancel()
	if _, err := h.svc.AuthenticateUser(cancelled, "ada@example.com", "correct horse", "A"); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled request waiting for a slot: got %v; want context.Canceled", err)
	}
}

// TestPasswordHashSlotsSizing: min(2 × GOMAXPROCS, budget / 64 MiB), at
// least one.
func TestPasswordHashSlotsSizing(t *testing.T) {
	for _, tt := range []struct {
		budget int64
		want   int
	}{
		{0, 1}, {64 << 20, 1}, {127 << 20, 1}, {128 << 20, 2}, {1 << 40, 2 * runtimeProcs()},
	} {
		if got := PasswordHashSlots(tt.budget); got != min(tt.want, 2*runtimeProcs()) {
			t.Errorf("PasswordHashSlots(%d): got %d; want %d", tt.budget, got, min(tt.want, 2*runtimeProcs()))
		}
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
