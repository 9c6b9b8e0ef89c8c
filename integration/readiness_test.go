package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/stamp-oauth/stamp/domain"
	"github.com/stamp-oauth/stamp/eventstore"
)

// externalNATS is a nats-server on the README's configuration (the three
// stamp roles) plus an administrator identity stamp never has, which the
// test uses to tamper with consumers. It can be stopped and started again
// on the same store and port.
type externalNATS struct {
	t         *testing.T
	file      string // the configuration file
	port      int
	ns        *server.Server
	seeds     map[eventstore.Role]string
	admin     string // the administrator's public key
	adminSeed string
}

func startExternalNATS(t *testing.T) *externalNATS {
	t.Helper()
	dir := t.TempDir()
	conf := readmeNATSConfig(t)
	x := &externalNATS{t: t, seeds: map[eventstore.Role]string{}}
	for _, r := range eventstore.Roles() {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		x.seeds[r] = filepath.Join(dir, string(r)+".nk")
		if err := os.WriteFile(x.seeds[r], seed, 0o600); err != nil {
			t.Fatal(err)
		}
		placeholder := `"U…` + string(r) + `'s public key"`
		if r == eventstore.RoleRevocations {
			placeholder = `"U…revocations' public key"`
		}
		conf = strings.Replace(conf, placeholder, `"`+pub+`"`, 1)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	x.admin, _ = kp.PublicKey()
	x.adminSeed = filepath.Join(dir, "admin.nk")
	if err := os.WriteFile(x.adminSeed, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	conf = strings.Replace(conf, "jetstream {}", "jetstream { store_dir: \""+filepath.ToSlash(filepath.Join(dir, "js"))+"\" }", 1)
	x.file = filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(x.file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	x.port = -1
	x.start()
	x.port = x.ns.Addr().(*net.TCPAddr).Port
	t.Cleanup(x.stop)
	return x
}

// start starts the server on the configuration file and x.port.
func (x *externalNATS) start() {
	x.t.Helper()
	opts, err := server.ProcessConfigFile(x.file)
	if err != nil {
		x.t.Fatal(err)
	}
	opts.Host, opts.Port, opts.NoSigs = "127.0.0.1", x.port, true
	opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: x.admin})
	ns, err := server.NewServer(opts)
	if err != nil {
		x.t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		x.t.Fatal("nats-server not ready")
	}
	x.ns = ns
}

func (x *externalNATS) stop() {
	x.ns.Shutdown()
	x.ns.WaitForShutdown()
}

func (x *externalNATS) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", x.port) }

// pauseAllConsumers pauses every consumer on the STAMP stream for an hour,
// as the administrator, and returns how many it paused.
func (x *externalNATS) pauseAllConsumers(ctx context.Context) int {
	x.t.Helper()
	nk, err := nats.NkeyOptionFromSeed(x.adminSeed)
	if err != nil {
		x.t.Fatal(err)
	}
	nc, err := nats.Connect(x.url(), nk)
	if err != nil {
		x.t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		x.t.Fatal(err)
	}
	stream, err := js.Stream(ctx, domain.StreamName)
	if err != nil {
		x.t.Fatal(err)
	}
	names := stream.ConsumerNames(ctx)
	n := 0
	for name := range names.Name() {
		if _, err := js.PauseConsumer(ctx, domain.StreamName, name, time.Now().Add(time.Hour)); err != nil {
			x.t.Fatalf("pause %s: %v", name, err)
		}
		n++
	}
	return n
}

// readiness is GET /health/ready's answer.
type readiness struct {
	status     int
	retryAfter string
	Ready      bool `json:"ready"`
	Checks     []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Reason string `json:"reason"`
	} `json:"checks"`
}

func getReady(t *testing.T, base string) readiness {
	t.Helper()
	resp, err := http.Get(base + "/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := readiness{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("GET /health/ready: %d %q: %v", resp.StatusCode, b, err)
	}
	return r
}

// failed returns the failing checks as "name: reason" lines.
func (r readiness) failed() string {
	var out []string
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c.Name+": "+c.Reason)
		}
	}
	return strings.Join(out, "; ")
}

// pollFor polls cond every 20ms until it holds or timeout passes.
func pollFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func issueToken(t *testing.T, base, id, secret string) (int, http.Header, map[string]any) {
	t.Helper()
	status, hdr, body := postForm(t, base+"/oauth/token", id, secret, url.Values{"grant_type": {"client_credentials"}})
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	return status, hdr, m
}

// TestNATSOutageAndStalledConsumer: an instance on an external NATS
// whose consumer is paused server-side recovers through the watchdog;
// when NATS goes away it says so (not ready, with a reason), fails closed
// on introspection and answers issuance 503 with Retry-After, never 500
// and never hanging; once NATS is back on the same store and port it is
// ready again and its read models resume.
func TestNATSOutageAndStalledConsumer(t *testing.T) {
	x := startExternalNATS(t)
	e := newEnv(t, "STAMP_NATS_URL", x.url(), "STAMP_NATS_NKEY", x.seeds[eventstore.RoleWriter], "STAMP_REPLICAS", "1",
		"STAMP_PROJECTION_WAIT_TIMEOUT", "2s", "STAMP_CONSUMER_STALL_TIMEOUT", "1s")
	n := e.start()
	base := n.HTTPURL()
	id, secret := e.createClient(n, "outage")
	status, _, tok := issueToken(t, base, id, secret)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	if r := getReady(t, base); r.status != http.StatusOK || !r.Ready {
		t.Fatalf("ready at start: %d, failing %q", r.status, r.failed())
	}

	// A stalled consumer: paused on the server, it delivers nothing.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if got := x.pauseAllConsumers(ctx); got == 0 {
		t.Fatal("no consumer to pause")
	}
	stalledID, _ := e.createClient(nil, "appended-while-paused")
	paused := time.Now()
	pollFor(t, 20*time.Second, "the read models to apply a client appended while their consumer was paused", func() bool {
		_, err := n.Views().Client(ctx, stalledID)
		return err == nil
	})
	t.Logf("a paused consumer was recreated and the event applied %s after the append (consumer_stall_timeout 1s)", time.Since(paused).Round(time.Millisecond))
	if ws := n.Store().Watchdog(); ws.Recreated == 0 {
		t.Fatalf("Watchdog() = %+v; want a recreated consumer", ws)
	}

	// NATS goes away.
	x.stop()
	var down readiness
	pollFor(t, 20*time.Second, "/health/ready to turn 503 naming NATS", func() bool {
		down = getReady(t, base)
		return down.status == http.StatusServiceUnavailable && strings.Contains(down.failed(), "nats: ")
	})
	if down.Ready || !strings.Contains(down.failed(), "nats") || down.retryAfter == "" {
		t.Errorf("not ready: %+v, failing %q; want the nats check failing, with Retry-After", down, down.failed())
	}
	status, hdr, body := postForm(t, base+"/oauth/introspect", id, secret, url.Values{"token": {tok["access_token"].(string)}})
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(string(body), "temporarily_unavailable") {
		t.Errorf("introspect while NATS is down: %d %s (Retry-After %q); want 503 temporarily_unavailable with Retry-After", status, body, hdr.Get("Retry-After"))
	}
	started := time.Now()
	status, hdr, m := issueToken(t, base, id, secret)
	took := time.Since(started)
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || m["error"] != "temporarily_unavailable" {
		t.Errorf("token while NATS is down: %d %v (Retry-After %q); want 503 temporarily_unavailable with Retry-After", status, m, hdr.Get("Retry-After"))
	}
	t.Logf("issuance while NATS was down answered %d after %s", status, took.Round(time.Millisecond))

	// NATS comes back on the same store and port.
	x.start()
	pollFor(t, 30*time.Second, "/health/ready to turn 200 again", func() bool {
		return getReady(t, base).status == http.StatusOK
	})
	var after map[string]any
	pollFor(t, 30*time.Second, "issuance to work again", func() bool {
		status, _, after = issueToken(t, base, id, secret)
		return status == http.StatusOK
	})
	in := introspect(t, n, id, secret, after["access_token"].(string))
	if in["active"] != true {
		t.Errorf("a token issued after the outage introspects as %v; want active", in)
	}
	if applied, last := n.Views().Checkpoint(), lastSeq(t, n); applied < last {
		t.Errorf("read models at %d after the outage; stream at %d", applied, last)
	}
}
