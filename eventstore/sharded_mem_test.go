package eventstore

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stamp-oauth/stamp/domain"
)

// TestSubjectIndexMemory measures what the NATS server keeps in memory for
// a stream of N token events after a restart, one subject per token (the
// scheme before the shards) against the shard subjects. Every run measures
// 2,000 tokens; the figures want more (it takes a while):
//
//	STAMP_SUBJECT_MEM_N=200000 go test ./eventstore/ -run TestSubjectIndexMemory -v -timeout 30m
//
// and prints, per scheme, the distinct subjects, the Go heap in use and
// the process RSS with the restarted server, beside the limit (the shard
// scheme's subjects: 16 per event type).
func TestSubjectIndexMemory(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("STAMP_SUBJECT_MEM_N"))
	if n <= 0 {
		n = 2000 // every run checks the scheme stays bounded; the figures want more
	}
	schemes := []struct {
		name    string
		subject func(id string) string
	}{
		{"per-token subjects (before)", func(id string) string { return "stamp.token." + id + ".AccessTokenCreated" }},
		{"shard subjects (after)", func(id string) string { return token(id).Subject("AccessTokenCreated") }},
	}
	for _, sc := range schemes {
		dir := t.TempDir()
		srv := startServer(t, ServerOptions{StoreDir: dir})
		st := openStore(t, srv)
		fill(t, st, n, sc.subject)
		st.Close()
		srv.Shutdown()

		base := heapInUse()
		srv = startServer(t, ServerOptions{StoreDir: dir})
		st = openStore(t, srv)
		subjects := numSubjects(t, st)
		heap := heapInUse()
		t.Logf("%s: %d tokens, %d subjects (limit %d), heap in use with the restarted server +%.1f MB, process RSS %.1f MB",
			sc.name, n, subjects, domain.Shards, float64(heap-base)/1e6, float64(rss())/1e6)
		st.Close()
		srv.Shutdown()
	}
}

// fill publishes n small AccessTokenCreated envelopes, asynchronously, on
// the subjects subject gives their ids.
func fill(t *testing.T, st *Store, n int, subject func(id string) string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	for i := 0; i < n; i += 1000 {
		for j := i; j < min(i+1000, n); j++ {
			id := "tok-" + strconv.Itoa(j)
			m := nats.NewMsg(subject(id))
			m.Data = mustJSON(env(id, "AccessTokenCreated"))
			if _, err := st.js.PublishMsgAsync(m); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-st.js.PublishAsyncComplete():
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// rss returns the process's resident set size on Linux, 0 elsewhere.
func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb * 1000
		}
	}
	return 0
}
