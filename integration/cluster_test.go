package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// Asserts of issue 9, each switched on once its fix landed. While a switch
// is false a violation is logged with its count instead of
// failing the test. Flip a switch to true once the fix it names is merged.
const (
	// enforceReadYourWrites: a token issued by any instance introspects
	// active on every instance the moment issuance returned, and an
	// instance that did not see it yet never answers 404 to its revocation
	// (issue 9 item 3, "read-your-writes across instances").
	enforceReadYourWrites = true
	// enforceRevocationEverywhere: no instance reports a token active once
	// another instance acknowledged its revocation (issue 9 item 3).
	enforceRevocationEverywhere = true
	// enforceNo500: during failover requests answer 503 with Retry-After,
	// never 500 (issue 9 item 4, "NATS errors mapped once").
	enforceNo500 = true
	// enforceNoHang: every request is answered within httpTimeout; an
	// instance whose consumer stalled answers 503 instead of hanging
	// (issue 9 item 1, watchdog and deadlines on projection waits).
	enforceNoHang = true
)

// resumeBound is how long after a killed node is back and the stream is
// healthy every instance must have issued a token again.
const resumeBound = 45 * time.Second

// clusterFault is one kill of a node and what followed.
type clusterFault struct {
	what      string // follower, leader, or the node of instance 0
	node      int
	killed    time.Time
	restarted time.Time
	healthy   time.Time // every replica current again
	resumed   time.Time // every instance issued again after healthy (zero: not within resumeBound)
}

// Fault kinds.
const (
	faultFollower  = "follower"
	faultLeader    = "stream leader"
	faultConnected = "node of instance 0"
)

// clusterRun is a cluster, three instances and their load, with the fault
// sequence it went through.
type clusterRun struct {
	t      *testing.T
	nats   *natsCluster
	sc     *stampCluster
	load   *loadDriver
	faults []clusterFault
}

func newClusterRun(t *testing.T) *clusterRun {
	nc := startCluster(t, clusterOptions{})
	sc := startStampCluster(t, nc, 3)
	nc.WaitHealthy()
	return &clusterRun{t: t, nats: nc, sc: sc, load: newLoadDriver(sc)}
}

// inject kills the node kind names, keeps it down for pause, restarts it,
// and waits until the stream is healthy and every instance issued again.
func (r *clusterRun) inject(kind string, pause time.Duration) {
	r.t.Helper()
	leader := r.nats.StreamLeader()
	node := leader
	switch kind {
	case faultFollower:
		node = (leader + 1 + len(r.faults)%2) % r.nats.opts.Nodes
	case faultConnected:
		node = r.sc.connectedNode(0)
	}
	f := clusterFault{what: kind, node: node, killed: time.Now()}
	var on []string
	for _, nd := range r.sc.nodes {
		on = append(on, nd.Store().ConnectedServer())
	}
	r.t.Logf("kill %s (%s; stream leader %s; instances on %v)", r.nats.Name(node), kind, r.nats.Name(leader), on)
	r.nats.Kill(node)
	time.Sleep(pause) // the outage itself, not a wait for a condition
	f.restarted = time.Now()
	r.nats.Restart(node)
	r.nats.WaitHealthy()
	f.healthy = time.Now()
	deadline := f.healthy.Add(resumeBound)
	for time.Now().Before(deadline) {
		if r.issuedEverywhereSince(f.healthy) {
			f.resumed = time.Now()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.faults = append(r.faults, f)
}

func (r *clusterRun) issuedEverywhereSince(t time.Time) bool {
	seen := make([]bool, len(r.sc.nodes))
	r.load.mu.Lock()
	for _, tok := range r.load.issued {
		if tok.at.After(t) {
			seen[tok.inst] = true
		}
	}
	r.load.mu.Unlock()
	return !slices.Contains(seen, false)
}

// TestClusterFailover runs three stamp instances on a three-node JetStream
// cluster under bounded mixed load and kills a stream follower, then the
// stream leader, then the node instance 0 is connected to, each for a few
// seconds. It asserts that no acknowledged operation is lost and that no
// answer is one the issue rules out; the asserts of fixes still being made
// are switched (see enforceReadYourWrites and the others) and their
// violations are logged with counts.
func TestClusterFailover(t *testing.T) {
	newClusterRun(t).underLoad(func(r *clusterRun) {
		for _, kind := range []string{faultFollower, faultLeader, faultConnected} {
			r.inject(kind, 2*time.Second)
		}
	})
}

// underLoad runs the mixed load, waits until every instance issues, runs
// faults, stops the load and verifies the run.
func (r *clusterRun) underLoad(faults func(*clusterRun)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.load.run(ctx, 20*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()
	waitUntil(r.t, 30*time.Second, "issuance on every instance before the faults", func() bool {
		return r.issuedEverywhereSince(time.Time{})
	})
	faults(r)
	cancel()
	<-done
	r.verify()
}

// verify checks the run once the load has stopped and logs its figures.
func (r *clusterRun) verify() {
	t := r.t
	r.nats.WaitHealthy()
	d := r.load
	created, revoked := r.logged()
	// After the faults, every instance converges on the log: it knows
	// every token, and honours every revocation.
	sweptRevokedActive, sweptIssuedInactive, stuck := d.sweep(revoked)
	for _, s := range stuck {
		t.Errorf("after the load stopped, an instance still answers from a stale read model: %s", s)
	}
	d.mu.Lock()
	defer d.mu.Unlock()

	// Zero acknowledged operations lost: every token issuance returned
	// and every revocation acknowledged is in the log.
	lostTokens, lostRevocations := 0, 0
	for _, tok := range d.issued {
		if !created[tok.jti] {
			lostTokens++
		}
	}
	for _, rv := range d.revoked {
		if !revoked[rv.jti] {
			lostRevocations++
		}
	}
	if lostTokens > 0 || lostRevocations > 0 {
		t.Errorf("acknowledged operations lost: %d of %d tokens, %d of %d revocations", lostTokens, len(d.issued), lostRevocations, len(d.revoked))
	}

	// Answers: 200, 503 with Retry-After, 404 only as a revocation of a
	// token the instance did not know yet (counted below); 500s, 503s
	// without Retry-After and hangs are the failures.
	var n500, n503, n503NoRetry, hangs, unexpected int
	for _, op := range d.ops {
		switch {
		case op.status == http.StatusOK:
		case op.status == http.StatusServiceUnavailable:
			n503++
			if !op.retryAfter {
				n503NoRetry++
			}
		case op.status == http.StatusInternalServerError:
			n500++
		case op.status == 0:
			hangs++
		case op.status == http.StatusNotFound && op.kind == opRevoke:
		default:
			unexpected++
			if unexpected <= 5 {
				t.Errorf("%s on instance %d answered %d", op.kind, op.inst, op.status)
			}
		}
	}
	if unexpected > 0 {
		t.Errorf("%d answers with an unexpected status", unexpected)
	}
	gate(t, enforceNo500, n500+n503NoRetry == 0, "issue 9 item 4: %d answers 500 and %d answers 503 without Retry-After (of %d 503s)", n500, n503NoRetry, n503)
	gate(t, enforceNoHang, hangs == 0, "issue 9 item 1: %d requests not answered within %s", hangs, httpTimeout)
	gate(t, enforceReadYourWrites, d.rywStale == 0 && d.rywNever == 0 && d.revokeNotFound == 0,
		"issue 9 item 3: %d of %d introspections right after issuance said inactive (%d never active within %s); %d revocations on another instance answered 404",
		d.rywStale, d.rywChecks, d.rywNever, convergeTimeout, d.revokeNotFound)
	gate(t, enforceRevocationEverywhere, d.revStale == 0 && d.revNever == 0 && sweptRevokedActive == 0,
		"issue 9 item 3: %d of %d introspections after an acknowledged revocation said active (%d still active after %s); %d revoked tokens active in the final sweep",
		d.revStale, d.revChecks, d.revNever, convergeTimeout, sweptRevokedActive)
	gate(t, enforceReadYourWrites, sweptIssuedInactive == 0, "issue 9 item 3: %d issued tokens inactive in the final sweep", sweptIssuedInactive)
	// An instance reads its own writes today (DESIGN.md, principle 3).
	if d.localStale > 0 {
		t.Errorf("%d tokens were inactive on the instance that had just issued them", d.localStale)
	}
	// Error answers, as the fixes should change them.
	seen := map[string]int{}
	for _, op := range d.ops {
		if op.status != http.StatusOK && (op.status != http.StatusNotFound || op.kind != opRevoke) {
			key := fmt.Sprintf("%s %d retry-after=%v %s", op.kind, op.status, op.retryAfter, op.err)
			if seen[key]++; seen[key] == 1 && len(seen) <= 10 {
				t.Logf("answer: %s", key)
			}
		}
	}

	// Issuance resumes on every instance within resumeBound of a healed
	// stream, after every fault.
	var gaps []time.Duration
	for _, f := range r.faults {
		if f.resumed.IsZero() {
			t.Errorf("kill of %s (%s): issuance did not resume on every instance within %s of a healthy stream", r.nats.Name(f.node), f.what, resumeBound)
			continue
		}
		g := r.gap(f)
		gaps = append(gaps, g)
		t.Logf("kill of %s (%s): down %s, healthy %s after the restart, every instance issuing %s after that; longest issuance gap %s",
			r.nats.Name(f.node), f.what, f.restarted.Sub(f.killed).Round(time.Millisecond),
			f.healthy.Sub(f.restarted).Round(time.Millisecond), f.resumed.Sub(f.healthy).Round(time.Millisecond), g.Round(time.Millisecond))
	}
	counts := map[string]int{}
	slowest := map[string]time.Duration{}
	for _, op := range d.ops {
		counts[op.kind+" "+strconv.Itoa(op.status)]++
		slowest[op.kind] = max(slowest[op.kind], op.end.Sub(op.start).Round(time.Millisecond))
	}
	t.Logf("operations by kind and status (0: no answer): %v; slowest answer by kind: %v", counts, slowest)
	t.Logf("tokens issued %d, revocations acknowledged %d, lost %d/%d; 500s %d; 503s %d (%d without Retry-After); unanswered %d; revocations answered 404 %d; checks not measured %d",
		len(d.issued), len(d.revoked), lostTokens, lostRevocations, n500, n503, n503NoRetry, hangs, d.revokeNotFound, d.unmeasured)
	ryw, rywCalm := r.lags(d.rywLag)
	rev, revCalm := r.lags(d.revLag)
	t.Logf("read-your-writes across instances: %d checks, %d stale at once, %d never within %s; lag p50 %s p99 %s max %s (%d checks); away from faults p50 %s p99 %s max %s (%d checks)",
		d.rywChecks, d.rywStale, d.rywNever, convergeTimeout, pct(ryw, 0.5), pct(ryw, 0.99), pct(ryw, 1), len(ryw), pct(rywCalm, 0.5), pct(rywCalm, 0.99), pct(rywCalm, 1), len(rywCalm))
	t.Logf("revocation propagation: %d checks, %d active at once, %d never within %s; lag p50 %s p99 %s max %s (%d checks); away from faults p50 %s p99 %s max %s (%d checks)",
		d.revChecks, d.revStale, d.revNever, convergeTimeout, pct(rev, 0.5), pct(rev, 0.99), pct(rev, 1), len(rev), pct(revCalm, 0.5), pct(revCalm, 0.99), pct(revCalm, 1), len(revCalm))
	t.Logf("failover issuance gap over %d kills: p50 %s max %s", len(gaps), pct(gaps, 0.5), pct(gaps, 1))
}

// lags returns the lags of samples, all of them and those away from the
// faults: whose wait did not overlap the time from a kill until a second
// after every instance issued again.
func (r *clusterRun) lags(samples []lagSample) (all, calm []time.Duration) {
	for _, s := range samples {
		all = append(all, s.lag)
		near := false
		for _, f := range r.faults {
			end := f.resumed
			if end.IsZero() {
				end = f.healthy.Add(resumeBound)
			}
			if !s.at.Add(s.lag).Before(f.killed) && s.at.Before(end.Add(time.Second)) {
				near = true
			}
		}
		if !near {
			calm = append(calm, s.lag)
		}
	}
	return all, calm
}

// gate fails the test when enforce is set and ok is false; otherwise it
// logs the violation, so its count appears in every run.
func gate(t *testing.T, enforce, ok bool, format string, args ...any) {
	t.Helper()
	switch {
	case ok:
	case enforce:
		t.Errorf(format, args...)
	default:
		t.Logf("NOT ENFORCED YET: "+format, args...)
	}
}

// gap returns the longest time any instance went without a successful
// issuance around fault f: from its last issuance before the kill to its
// first one after the stream was healthy again. d.mu is held.
func (r *clusterRun) gap(f clusterFault) time.Duration {
	var longest time.Duration
	for inst := range r.sc.nodes {
		var times []time.Time
		for _, tok := range r.load.issued {
			if tok.inst == inst {
				times = append(times, tok.at)
			}
		}
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		first := -1 // the last issuance at or before the kill
		for i, at := range times {
			if !at.After(f.killed) {
				first = i
			}
		}
		if first < 0 {
			first = 0
		}
		for i := first + 1; i < len(times); i++ {
			longest = max(longest, times[i].Sub(times[i-1]))
			if times[i].After(f.healthy) {
				break
			}
		}
	}
	return longest
}

// logged reads the whole log through instance 0 and returns the ids of the
// access tokens created and revoked in it.
func (r *clusterRun) logged() (created, revoked map[string]bool) {
	r.t.Helper()
	created, revoked = map[string]bool{}, map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := r.sc.nodes[0].Store().Replay(ctx, 0, "", func(rec domain.Recorded) error {
		var into map[string]bool
		switch rec.Envelope.Type {
		case domain.AccessTokenCreated{}.EventType():
			into = created
		case domain.AccessTokenRevoked{}.EventType():
			into = revoked
		default:
			return nil
		}
		var e struct {
			TokenID string `json:"token_id"`
		}
		if err := json.Unmarshal(rec.Envelope.Data, &e); err != nil {
			return err
		}
		into[e.TokenID] = true
		return nil
	})
	if err != nil {
		r.t.Fatalf("read the log: %v", err)
	}
	return created, revoked
}

// pct returns the q-quantile (0 < q <= 1) of ds by the nearest-rank
// method, or 0 for none.
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)].Round(time.Millisecond)
}
