//go:build soak

package integration

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestClusterSoak is the long fault soak: many kill cycles (follower,
// leader, the node of an instance, in turn) under load, reporting the
// failover gap, the cross-instance read-your-writes lag and the revocation
// propagation lag. It is built only with the soak tag (it runs for minutes,
// TestClusterFailover is its short form in every run); STAMP_CLUSTER_SOAK_
// KILLS sets the number of kills (12 if unset):
//
//	go test -tags soak ./integration/ -run TestClusterSoak -v -timeout 30m
func TestClusterSoak(t *testing.T) {
	kills := 12
	if v := os.Getenv("STAMP_CLUSTER_SOAK_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("STAMP_CLUSTER_SOAK_KILLS=%q: want a positive number", v)
		}
		kills = n
	}
	r := newClusterRun(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.load.run(ctx, 20*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()
	waitUntil(t, 30*time.Second, "issuance on every instance before the faults", func() bool {
		return r.issuedEverywhereSince(time.Time{})
	})
	kinds := []string{faultFollower, faultLeader, faultConnected}
	for k := range kills {
		r.inject(kinds[k%len(kinds)], 3*time.Second)
		time.Sleep(2 * time.Second) // calm load between faults, part of the measurement
	}
	cancel()
	<-done
	r.verify()
}
