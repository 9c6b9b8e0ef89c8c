package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// Helpers of TestScaleMemory (scale_memory_test.go): the stamp binary run
// as its own process, its memory as the kernel counts it, and a writer
// that appends what the server appends for a client-credentials issuance.

// buildStamp builds the stamp binary into a temporary directory.
func buildStamp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "stamp")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/stamp").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// scaleServer is one `stamp serve` process on its own data directory.
type scaleServer struct {
	bin, data string
	env       []string
	cmd       *exec.Cmd
	exited    chan error
	log       *lockedBuffer // cluster_issuer_test.go
	httpURL   string
	pprof     string // the debug address (STAMP_BENCH_SCALE_PROFILES)
	natsURL   string
	// ready is the time from exec to the first 200 of /health/ready.
	ready time.Duration
}

// startScaleServer runs bin serve with environ on data, and returns once
// /health/ready answers 200 (within a minute, else it fails t).
func startScaleServer(t *testing.T, bin, data string, environ []string) *scaleServer {
	t.Helper()
	s := &scaleServer{bin: bin, data: data, env: append(append([]string{}, environ...), "STAMP_DATA_DIR="+data)}
	s.start(t)
	t.Cleanup(func() { s.kill() })
	return s
}

func (s *scaleServer) start(t *testing.T) {
	t.Helper()
	s.cmd = exec.Command(s.bin, "serve")
	s.cmd.Env = s.env
	if os.Getenv("STAMP_BENCH_SCALE_PROFILES") != "" {
		s.pprof = freeAddr(t)
		s.cmd.Env = append(append([]string{}, s.env...), "STAMP_DEBUG_ADDRESS="+s.pprof)
	}
	s.log = &lockedBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	began := time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.exited = make(chan error, 1)
	go func(c *exec.Cmd, ch chan error) { ch <- c.Wait() }(s.cmd, s.exited)
	var info struct {
		HTTPURL string `json:"http_url"`
		NATSURL string `json:"nats_url"`
	}
	client := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server was not ready within a minute:\n%s", s.log.String())
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			t.Fatalf("the server exited (%v):\n%s", err, s.log.String())
		default:
		}
		if info.HTTPURL == "" {
			b, err := os.ReadFile(filepath.Join(s.data, "serve.json"))
			if err != nil || json.Unmarshal(b, &info) != nil || info.HTTPURL == "" {
				continue
			}
		}
		resp, err := client.Get(info.HTTPURL + "/health/ready")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			s.ready = time.Since(began)
			break
		}
	}
	s.httpURL, s.natsURL = info.HTTPURL, info.NATSURL
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// profile writes the server's heap profile to path.
func (s *scaleServer) profile(t *testing.T, path string) {
	t.Helper()
	resp, err := http.Get("http://" + s.pprof + "/debug/pprof/heap")
	if err != nil {
		t.Fatalf("heap profile: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("heap profile: %d, %v", resp.StatusCode, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// stop sends SIGTERM and waits (a minute at most) for a clean exit.
func (s *scaleServer) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		s.exited <- err
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM:\n%s", err, s.log.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop within a minute of SIGTERM")
	}
}

// kill ends the process if it still runs.
func (s *scaleServer) kill() {
	select {
	case err := <-s.exited:
		s.exited <- err
	default:
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// memory is the process's resident set as the kernel counts it
// (/proc/<pid>/status), and the Go runtime's view from /metrics.
type memory struct {
	RSS, HWM         int64 // VmRSS, VmHWM, bytes
	RSSFile          int64 // RssFile: the part of RSS that maps files (the binary's code)
	HeapInuse, GoSys int64 // go_memstats_heap_inuse_bytes, go_memstats_sys_bytes
}

func (m memory) String() string {
	return fmt.Sprintf("RSS %5.1f MB (peak %5.1f, files %4.1f), Go heap in use %5.1f MB, Go runtime total %5.1f MB",
		mb(m.RSS), mb(m.HWM), mb(m.RSSFile), mb(m.HeapInuse), mb(m.GoSys))
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// memory reads the server's memory now.
func (s *scaleServer) memory(t *testing.T) memory {
	t.Helper()
	var m memory
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatalf("read the server's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			m.RSS = kb << 10
		case "VmHWM:":
			m.HWM = kb << 10
		case "RssFile:":
			m.RSSFile = kb << 10
		}
	}
	if m.RSS == 0 {
		t.Fatalf("no VmRSS in /proc/%d/status", s.cmd.Process.Pid)
	}
	metrics := s.metrics(t)
	m.HeapInuse, m.GoSys = int64(metrics["go_memstats_heap_inuse_bytes"]), int64(metrics["go_memstats_sys_bytes"])
	return m
}

// metrics returns the samples of /metrics by name, those of a labelled
// metric summed (one read-model set: its applied sequence as it is).
func (s *scaleServer) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(s.httpURL + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i] // labelled samples are summed
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err == nil {
			out[name] += v
		}
	}
	return out
}

// waitApplied polls /metrics until the server's read models have applied
// seq, failing t past the deadline.
func (s *scaleServer) waitApplied(t *testing.T, seq uint64, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		applied := uint64(s.metrics(t)["stamp_projection_applied_sequence"])
		if applied >= seq {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read models applied %d of %d within %s", applied, seq, within)
		}
	}
}

// settled polls the server's memory every 500 ms for at least settleFor
// (12 s in the benchmark: nats-server drops a message block's cache 10 s
// after its last use), then until its RSS moved less than 2 % over the
// last 2 s (or 30 s more passed), and returns the last reading.
func (s *scaleServer) settled(t *testing.T, settleFor time.Duration) memory {
	t.Helper()
	var window []memory
	began := time.Now()
	for deadline := began.Add(settleFor + 30*time.Second); ; time.Sleep(500 * time.Millisecond) {
		m := s.memory(t)
		window = append(window, m)
		if len(window) > 5 {
			window = window[1:]
		}
		if len(window) == 5 && time.Since(began) >= settleFor {
			lo, hi := window[0].RSS, window[0].RSS
			for _, w := range window {
				lo, hi = min(lo, w.RSS), max(hi, w.RSS)
			}
			if float64(hi-lo) < 0.02*float64(hi) {
				return m
			}
		}
		if time.Now().After(deadline) {
			return m
		}
	}
}

// run runs the CLI on the server's data directory and returns its stdout.
func (s *scaleServer) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.bin, args...)
	cmd.Env = s.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("stamp %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// tokenWriter appends, as the server does for a client-credentials
// issuance, one AccessTokenCreated event per token: the same event type
// and fields (random jti, the client, the grant, the signing key's id,
// issue and expiry times), a random envelope id as its message id, signed
// with the data directory's log-signing key and written as the writer
// identity the CLI connects as, through the running server's NATS.
type tokenWriter struct {
	store    *eventstore.Store
	clientID string
	keyID    string
	workers  int
}

func openTokenWriter(t *testing.T, s *scaleServer, clientID, keyID string) *tokenWriter {
	t.Helper()
	seed, err := os.ReadFile(filepath.Join(s.data, "keys", "log-signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	logKey, err := domain.ParseLogPrivateKey(string(seed))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := eventstore.Open(ctx, eventstore.Options{
		URL: s.natsURL, NkeySeedFile: filepath.Join(s.data, "keys", eventstore.SeedFileName(eventstore.RoleWriter)), LogKey: logKey,
	})
	if err != nil {
		t.Fatalf("open the log as the writer: %v", err)
	}
	t.Cleanup(st.Close)
	return &tokenWriter{store: st, clientID: clientID, keyID: keyID, workers: 16}
}

// scaleAppendBatch is how many issuances one append of the writer carries:
// an atomic batch of that many AccessTokenCreated events (each on its own
// token's shard subject, signed as the server signs it), so the bulk rate
// is bounded by the server applying them, not by one staged batch per
// token.
const scaleAppendBatch = 100

// issue appends the tokens from to upTo-1 of clock, concurrently, in
// batches of scaleAppendBatch, and returns the last sequence appended.
func (w *tokenWriter) issue(ctx context.Context, clock simClock, from, upTo int) (uint64, error) {
	var next atomic.Int64
	next.Store(int64(from))
	var last atomic.Uint64
	var wg sync.WaitGroup
	errs := make(chan error, w.workers)
	for range w.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(scaleAppendBatch) - scaleAppendBatch)
				if i >= upTo || ctx.Err() != nil {
					return
				}
				batch := make([]domain.Pending, 0, scaleAppendBatch)
				for j := i; j < min(i+scaleAppendBatch, upTo); j++ {
					p, err := w.token(clock.issued(j), clock.lifetime)
					if err != nil {
						errs <- err
						return
					}
					batch = append(batch, p)
				}
				seq, err := w.store.AppendAll(ctx, domain.ExpectAny, batch...)
				if err != nil {
					errs <- err
					return
				}
				for {
					l := last.Load()
					if seq <= l || last.CompareAndSwap(l, seq) {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return last.Load(), nil
}

// token is the event a client-credentials issuance at now appends.
func (w *tokenWriter) token(now time.Time, lifetime time.Duration) (domain.Pending, error) {
	jti, err := domain.NewID(rand.Reader)
	if err != nil {
		return domain.Pending{}, err
	}
	id, err := domain.NewID(rand.Reader)
	if err != nil {
		return domain.Pending{}, err
	}
	e := domain.AccessTokenCreated{TokenID: jti, ClientID: w.clientID, Scopes: []string{}, GrantType: domain.GrantClientCredentials,
		KeyID: w.keyID, IssuedAt: now, ExpiresAt: now.Add(lifetime)}
	env, err := domain.NewEnvelope(id, e, now, domain.Actor{Kind: domain.ActorClient, ID: w.clientID})
	if err != nil {
		return domain.Pending{}, err
	}
	return domain.Pending{Aggregate: e.AggregateOf(), Envelope: env}, nil
}

func (w *tokenWriter) purge(ctx context.Context, now time.Time) (uint64, error) {
	id, err := domain.NewID(rand.Reader)
	if err != nil {
		return 0, err
	}
	e := domain.TokensPurged{PurgeID: id, Before: now, Revoked: true, Expired: true}
	env, err := domain.NewEnvelope(id, e, now, domain.Actor{Kind: domain.ActorCLI})
	if err != nil {
		return 0, err
	}
	return w.store.Append(ctx, e.AggregateOf(), domain.ExpectNew, env)
}

// simClock is the simulated clock of the issuance: token i is issued at
// start + i×every and lives lifetime, so live = lifetime/every tokens are
// unexpired at any simulated moment.
type simClock struct {
	start    time.Time
	every    time.Duration
	lifetime time.Duration
}

func (c simClock) issued(i int) time.Time { return c.start.Add(time.Duration(i) * c.every) }
