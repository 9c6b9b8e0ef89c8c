package eventstore

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// BenchmarkAppendLimits prints, from one run on one stream with fsync
// before every acknowledgement, what the goals 5 and 6 hold the
// event store to, each figure beside its limit:
//
//   - a decision of 2 and of 3 events (a password grant: access and
//     refresh token, ExpectAny; a code exchange: the code redeemed,
//     expecting a new slot, and both tokens) against a decision of one
//     event (client credentials), from 1 and from 16 concurrent
//     appenders: the ratio of their costs, limit ~1× ("cost like one";
//     at 1 appender nothing is there to share a batch with, see below);
//   - group commit on against off at 16 concurrent appenders, single
//     events and 2-event decisions: the ratio of throughputs, limit
//     1.2× (what we call "pays": a fifth more acknowledged decisions
//     per second on the same stream and disk).
//
// The phases run interleaved, rounds of each in turn, so that the load of
// a shared machine falls on all of them alike. STAMP_BENCH_APPEND_PHASE
// sets each phase's total time (default 3s).
//
//	go test ./eventstore/ -run '^$' -bench BenchmarkAppendLimits -benchtime 1x
func BenchmarkAppendLimits(b *testing.B) {
	phase := 3 * time.Second
	if v := os.Getenv("STAMP_BENCH_APPEND_PHASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			b.Fatalf("STAMP_BENCH_APPEND_PHASE=%q: want a positive duration", v)
		}
		phase = d
	}
	const rounds = 3
	srv := startServer(b, ServerOptions{SyncAlways: true})
	groupOn := openWith(b, Options{InProcess: srv})
	off := openWith(b, Options{InProcess: srv, DisableGroupCommit: true})
	ctx := testContext(b)
	var ids atomic.Int64
	next := func() string { return fmt.Sprint("l", ids.Add(1)) }
	shapes := []struct {
		name   string
		events int
		decide func(ctx context.Context, st *Store) error
	}{
		{"client credentials", 1, func(ctx context.Context, st *Store) error {
			id := next()
			_, err := st.Append(ctx, token(id), domain.ExpectAny, env(id, "AccessTokenCreated"))
			return err
		}},
		{"password grant", 2, func(ctx context.Context, st *Store) error {
			id := next()
			_, err := st.AppendAll(ctx, domain.ExpectAny, on(token(id), id+"-at", "AccessTokenCreated"), on(refresh(id), id+"-rt", "RefreshTokenCreated"))
			return err
		}},
		{"code exchange", 3, func(ctx context.Context, st *Store) error {
			id := next()
			_, err := st.AppendAll(ctx, domain.ExpectNew, on(code(id), id+"-c", "AuthCodeRedeemed"),
				on(token(id), id+"-at", "AccessTokenCreated"), on(refresh(id), id+"-rt", "RefreshTokenCreated"))
			return err
		}},
	}
	type phaseRun struct {
		shape   int
		workers int
		group   bool
		done    int64
		took    time.Duration
	}
	var phases []*phaseRun
	for s := range shapes {
		phases = append(phases, &phaseRun{shape: s, workers: 1, group: true}, &phaseRun{shape: s, workers: 16, group: true})
		if s < 2 {
			phases = append(phases, &phaseRun{shape: s, workers: 16, group: false})
		}
	}
	run := func(p *phaseRun, d time.Duration) {
		st := groupOn
		if !p.group {
			st = off
		}
		decide := shapes[p.shape].decide
		deadline := time.Now().Add(d)
		var n atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range p.workers {
			wg.Go(func() {
				for time.Now().Before(deadline) {
					if err := decide(ctx, st); err != nil {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		p.done += n.Load()
		p.took += time.Since(start)
	}
	for b.Loop() {
		for _, p := range phases { // warm up: the committer measures its costs
			run(p, 200*time.Millisecond)
			p.done, p.took = 0, 0
		}
		for range rounds {
			for _, p := range phases {
				run(p, phase/rounds)
			}
		}
	}
	rate := func(shape, workers int, group bool) float64 {
		for _, p := range phases {
			if p.shape == shape && p.workers == workers && p.group == group {
				return float64(p.done) / p.took.Seconds()
			}
		}
		return 0
	}
	b.Logf("%-20s %-22s %12s %10s", "decision", "appenders", "decisions/s", "µs each")
	for _, p := range phases {
		group := "group commit on"
		if !p.group {
			group = "off"
		}
		r := float64(p.done) / p.took.Seconds()
		b.Logf("%-20s %-22s %12.0f %10.0f", fmt.Sprintf("%s (%d)", shapes[p.shape].name, shapes[p.shape].events), fmt.Sprintf("%d, %s", p.workers, group), r, 1e6/r)
	}
	for _, workers := range []int{1, 16} {
		single := rate(0, workers, true)
		for s := 1; s < len(shapes); s++ {
			ratio := single / rate(s, workers, true)
			b.Logf("cost of a %d-event decision / a single event, %2d appenders: %.2f× (limit ~1×)", shapes[s].events, workers, ratio)
			b.ReportMetric(ratio, fmt.Sprintf("cost-%dev/1ev-at-%d", shapes[s].events, workers))
		}
	}
	for s := range 2 {
		ratio := rate(s, 16, true) / rate(s, 16, false)
		b.Logf("group commit on / off, %d-event decisions, 16 appenders: %.2f× (limit ≥ 1.2×)", shapes[s].events, ratio)
		b.ReportMetric(ratio, fmt.Sprintf("group-on/off-%dev-at-16", shapes[s].events))
	}
	b.Logf("committer: %+v", commitStatsOf(groupOn))
}
