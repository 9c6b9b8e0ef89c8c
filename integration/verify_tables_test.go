package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRunningNodeVerifiesNewTables: the read models' tables a running node
// writes (flushes, compactions) are read and listed as verified while it
// runs, so that its next start reads only what came after the last pass
// and its share of the rest, not everything written since it started.
func TestRunningNodeVerifiesNewTables(t *testing.T) {
	e := newEnv(t)
	n := e.start()
	id, _ := e.createClient(n, "bulk")
	waitApplied(t, n, appendTokens(t, n.Store(), id, 30_000))
	dir := filepath.Join(e.dataDir, "projections")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		tables, verified := tableNumbers(t, dir), verifiedTables(dir)
		unread := 0
		for _, num := range tables {
			if !verified[num] {
				unread++
			}
		}
		if len(tables) > 0 && unread == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the read models' %d tables not verified 60s after the appends; want every one", unread, len(tables))
		}
	}
}

// tableNumbers returns the numbers of Pebble's tables in dir.
func tableNumbers(t *testing.T, dir string) []uint64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var nums []uint64
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".sst"); ok {
			if num, err := strconv.ParseUint(name, 10, 64); err == nil {
				nums = append(nums, num)
			}
		}
	}
	return nums
}

// verifiedTables returns the table numbers the read models' list of
// verified tables (STAMP-VERIFIED) holds; none if it is missing.
func verifiedTables(dir string) map[uint64]bool {
	b, _ := os.ReadFile(filepath.Join(dir, "STAMP-VERIFIED"))
	nums := map[uint64]bool{}
	for _, line := range strings.Fields(string(b)) {
		if num, err := strconv.ParseUint(line, 10, 64); err == nil {
			nums[num] = true
		}
	}
	return nums
}
