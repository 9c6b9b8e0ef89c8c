//go:build soak

package integration

import (
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
	kinds := []string{faultFollower, faultLeader, faultConnected}
	newClusterRun(t).underLoad(func(r *clusterRun) {
		for k := range kills {
			r.inject(kinds[k%len(kinds)], 3*time.Second)
			time.Sleep(2 * time.Second) // calm load between faults, part of the measurement
		}
	})
}
