package domain

import (
	"context"
	"time"
)

// PasswordHashMemory is the memory one argon2id hash takes at the
// production cost, in bytes (argonMemory KiB): what a password hashing
// slot stands for unless Config.PasswordHashing says otherwise.
const PasswordHashMemory = argonMemory * 1024

// DefaultPasswordHashBudget is the memory concurrent password hashes may
// take together when Config.PasswordHashes is 0: 512 MiB, 8 hashes.
const DefaultPasswordHashBudget = 512 << 20

// DefaultPasswordHashWait is how long a password check waits for a free
// hashing slot when Config.PasswordHashWait is 0.
const DefaultPasswordHashWait = 2 * time.Second

// PasswordHashSlots returns how many argon2id hashes may run at once
// within budget bytes: min(2 × GOMAXPROCS, budget / PasswordHashMemory),
// at least 1. More than twice the processors would only queue on the CPU
// while holding their memory.
// It is DefaultPasswordHashing().Slots(budget).
func PasswordHashSlots(budget int64) int {
	return DefaultPasswordHashing().Slots(budget)
}

// hashSlot takes one of the password hashing slots, waiting at most
// cfg.PasswordHashWait, and returns the function that gives it back. When
// none frees in time it returns a *RetryError wrapping
// ErrTemporarilyUnavailable, so a burst of logins waits or is refused
// instead of taking unbounded memory; ctx's error when ctx ends first.
func (s *Service) hashSlot(ctx context.Context) (func(), error) {
	release := func() { <-s.hashes }
	select {
	case s.hashes <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(s.cfg.PasswordHashWait)
	defer t.Stop()
	select {
	case s.hashes <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, &RetryError{
			Err:   ErrTemporarilyUnavailable.WithDescription("the server is busy checking passwords; retry later"),
			After: time.Second,
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
