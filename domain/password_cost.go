package domain

import (
	"encoding/base64"
	"fmt"
	"io"
	"runtime"

	"golang.org/x/crypto/argon2"
)

// PasswordHashing are the argon2id cost parameters new password hashes
// are made with (RFC 9106 §3.1). A hash carries its own parameters (the
// PHC string), so hashes made at any cost verify whatever the configured
// one: raising the cost applies to passwords set from then on.
type PasswordHashing struct {
	// MemoryKiB is the memory one hash takes, in KiB (argon2's m).
	MemoryKiB uint32
	// Time is the number of passes (argon2's t).
	Time uint32
	// Threads is the parallelism (argon2's p).
	Threads uint8
}

// Bounds of PasswordHashing, also those PasswordMatches accepts from a
// stored hash.
const (
	MaxPasswordHashMemoryKiB = 1 << 22 // 4 GiB
	MaxPasswordHashTime      = 100
)

// DefaultPasswordHashing returns the production cost: RFC 9106 §4's
// second recommended option, 64 MiB and 3 passes, with 2 lanes.
func DefaultPasswordHashing() PasswordHashing {
	return PasswordHashing{MemoryKiB: argonMemory, Time: argonTime, Threads: argonThreads}
}

// Validate checks that p is a cost argon2id can run and PasswordMatches
// accepts back: 1 to 255 threads, at least 8 KiB per thread (RFC 9106
// §3.1) and at most MaxPasswordHashMemoryKiB, 1 to MaxPasswordHashTime
// passes. It changes nothing.
func (p PasswordHashing) Validate() error {
	switch {
	case p.Threads < 1:
		return fmt.Errorf("domain: password hashing threads must be 1 to 255, got %d", p.Threads)
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > MaxPasswordHashMemoryKiB:
		return fmt.Errorf("domain: password hashing memory must be %d to %d KiB, got %d", 8*uint32(p.Threads), MaxPasswordHashMemoryKiB, p.MemoryKiB)
	case p.Time < 1 || p.Time > MaxPasswordHashTime:
		return fmt.Errorf("domain: password hashing time must be 1 to %d, got %d", MaxPasswordHashTime, p.Time)
	}
	return nil
}

// MemoryBytes is the memory one hash at this cost takes.
func (p PasswordHashing) MemoryBytes() int64 { return int64(p.MemoryKiB) << 10 }

// Slots returns how many hashes at this cost may run at once within
// budget bytes: min(2 × GOMAXPROCS, budget / MemoryBytes), at least 1
// (see PasswordHashSlots).
func (p PasswordHashing) Slots(budget int64) int {
	n := int64(2 * runtime.GOMAXPROCS(0))
	if m := p.MemoryBytes(); m > 0 {
		n = min(n, budget/m)
	}
	return int(max(n, 1))
}

// Hash returns the argon2id hash of password at this cost in the PHC
// string format ($argon2id$v=19$m=…,t=…,p=…$salt$hash). Errors: reading
// random fails.
func (p PasswordHashing) Hash(password string, random io.Reader) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := io.ReadFull(random, salt); err != nil {
		return "", fmt.Errorf("domain: read random: %w", err)
	}
	sum := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(sum)), nil
}

// dummy returns a hash at this cost that no password matches: checked
// when no user matches, so a failure takes as long whether or not the
// account exists.
func (p PasswordHashing) dummy() string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		enc.EncodeToString([]byte("stamp-dummy-salt")), enc.EncodeToString(make([]byte, argonKeyLen)))
}
