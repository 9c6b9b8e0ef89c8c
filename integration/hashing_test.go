package integration

import (
	"fmt"
	"net/http"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// TestPasswordHashingBounded: 16 wrong password grants at once (from 16
// addresses, so no rate limit applies). Each argon2id check takes 64 MiB;
// at most min(2 × CPUs, budget / 64 MiB) run at once and the others wait
// for a slot, or get 503 temporarily_unavailable with Retry-After when
// none frees in time. The heap's peak growth stays within the slots
// (twice, for the garbage collector's lag), where unbounded it would be
// 16 × 64 MiB. With a one-hash budget and no wait, some requests must be
// refused.
func TestPasswordHashingBounded(t *testing.T) {
	tests := []struct {
		name         string
		memoryMB     int
		wait         string
		slots        int
		wantRefusals bool
	}{
		{"one slot, no wait", 64, "1ms", 1, true},
		{"defaults", domain.DefaultPasswordHashBudget >> 20, "2s", domain.PasswordHashSlots(domain.DefaultPasswordHashBudget), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _, email, id, secret := limitNode(t, "STAMP_TRUSTED_PROXIES", "127.0.0.1",
				"STAMP_PASSWORD_HASH_MEMORY_MB", fmt.Sprint(tt.memoryMB), "STAMP_PASSWORD_HASH_WAIT", tt.wait)
			limit := uint64(2*tt.slots+2) * domain.PasswordHashMemory
			refused := 0
			for round := 0; round < 5 && (round == 0 || tt.wantRefusals && refused == 0); round++ {
				var (
					wg      sync.WaitGroup
					mu      sync.Mutex
					answers []answer
					start   = make(chan struct{})
				)
				peak := heapPeak(t)
				for i := range 16 {
					wg.Go(func() {
						<-start
						a := passwordGrant(t, n, id, secret, fmt.Sprintf("203.0.%d.%d", round, i+1), email, "wrong password")
						mu.Lock()
						answers = append(answers, a)
						mu.Unlock()
					})
				}
				close(start)
				wg.Wait()
				grew := peak()
				t.Logf("round %d: %d slots, heap peak grew %d MiB (limit %d MiB)", round, tt.slots, grew>>20, limit>>20)
				if grew > limit {
					t.Errorf("16 concurrent password checks grew the heap by %d MiB; want at most %d MiB", grew>>20, limit>>20)
				}
				for _, a := range answers {
					switch {
					case a.status == http.StatusBadRequest && a.body["error"] == "invalid_grant":
					case a.status == http.StatusServiceUnavailable && a.body["error"] == "temporarily_unavailable" && a.header.Get("Retry-After") != "":
						refused++
					default:
						t.Fatalf("got %d %s (Retry-After %q); want 400 invalid_grant or 503 temporarily_unavailable with Retry-After", a.status, a.raw, a.header.Get("Retry-After"))
					}
				}
			}
			if tt.wantRefusals && refused == 0 {
				t.Errorf("no request was refused for want of a hashing slot in 5 rounds of 16")
			}
			t.Logf("%d requests refused with 503", refused)
		})
	}
}

// heapPeak samples the bytes of heap objects every millisecond until the
// function it returns is called, which returns the peak's growth over
// the level at the start.
func heapPeak(t *testing.T) func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	base := read()
	done, result := make(chan struct{}), make(chan uint64)
	go func() {
		top := base
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				top = max(top, read())
			case <-done:
				result <- max(top, read()) - base
				return
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-result
	}
}
