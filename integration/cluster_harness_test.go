package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// clusterOptions configure a test cluster. Everything a secured cluster
// needs later (accounts, nkeys, TLS) goes here and nowhere else: configure
// changes each node's server options, clientEnv gives each stamp instance
// its STAMP_* connection settings, and clientOpts the harness's own
// monitoring connection.
type clusterOptions struct {
	// Nodes is the cluster's size; 3 if zero.
	Nodes int
	// Name is the cluster's name; "stamp-test" if empty.
	Name string
	// ReadyTimeout bounds every wait for the cluster (start, restart,
	// health); 30s if zero.
	ReadyTimeout time.Duration
	// configure, when set, changes a node's options before it starts.
	configure func(node int, o *server.Options)
	// clientEnv lists extra STAMP_* settings (name, value, …) each stamp
	// instance on the cluster gets, such as credentials.
	clientEnv []string
	// clientOpts are extra options of the harness's monitoring connection.
	clientOpts []nats.Option
}

func (o clusterOptions) withDefaults() clusterOptions {
	if o.Nodes == 0 {
		o.Nodes = 3
	}
	if o.Name == "" {
		o.Name = "stamp-test"
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 30 * time.Second
	}
	return o
}

// natsCluster is a JetStream cluster of in-process nats-servers on
// loopback, each with its own store directory and fixed ports, so that a
// killed node restarts as the same peer on the same files. Its methods
// are safe for concurrent use.
type natsCluster struct {
	t     *testing.T
	opts  clusterOptions
	mu    sync.Mutex
	nodes []*clusterNode
	mon   *nats.Conn // the harness's connection, for stream info
	js    jetstream.JetStream
}

type clusterNode struct {
	name       string
	storeDir   string
	clientPort int
	routePort  int
	srv        *server.Server // nil while the node is down
}

// startCluster starts the cluster and waits until it has a JetStream meta
// leader and every node is current. It shuts the cluster down when the
// test ends (register it before anything that uses the cluster, so that
// those close first).
func startCluster(t *testing.T, opts clusterOptions) *natsCluster {
	t.Helper()
	opts = opts.withDefaults()
	c := &natsCluster{t: t, opts: opts}
	t.Cleanup(c.shutdown)
	var lastErr error
	// Ports are picked before the start (routes must name them all). A
	// port another process took in between fails the start; then start
	// again on other ports, a bounded number of times.
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = c.startAll(); lastErr == nil {
			break
		}
		c.shutdown()
	}
	if lastErr != nil {
		t.Fatalf("cluster: %v", lastErr)
	}
	if err := c.waitMeta(); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	mon, err := nats.Connect(c.URLs(), append([]nats.Option{nats.Name("cluster-harness"), nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}, opts.clientOpts...)...)
	if err != nil {
		t.Fatalf("cluster: monitoring connection: %v", err)
	}
	js, err := jetstream.New(mon)
	if err != nil {
		mon.Close()
		t.Fatalf("cluster: %v", err)
	}
	c.mu.Lock()
	c.mon, c.js = mon, js
	c.mu.Unlock()
	return c
}

func (c *natsCluster) startAll() error {
	ports, err := freePorts(2 * c.opts.Nodes)
	if err != nil {
		return err
	}
	dir := c.t.TempDir()
	c.mu.Lock()
	c.nodes = nil
	for i := 0; i < c.opts.Nodes; i++ {
		c.nodes = append(c.nodes, &clusterNode{
			name:       fmt.Sprintf("n%d", i+1),
			storeDir:   filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			clientPort: ports[2*i],
			routePort:  ports[2*i+1],
		})
	}
	c.mu.Unlock()
	// Start the nodes together: each waits for its routes, and the meta
	// group forms once a quorum has met.
	errs := make(chan error, c.opts.Nodes)
	for i := range c.opts.Nodes {
		go func() { errs <- c.startNode(i) }()
	}
	var first error
	for range c.opts.Nodes {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// serverOptions are node i's options: client and route ports fixed, routes
// to every node (its own included, which the server ignores; the count of
// routes tells JetStream the expected size of the meta group).
func (c *natsCluster) serverOptions(i int) *server.Options {
	nd := c.nodes[i]
	var routes []*url.URL
	for _, o := range c.nodes {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.routePort))})
	}
	o := &server.Options{
		ServerName:         nd.name,
		Host:               "127.0.0.1",
		Port:               nd.clientPort,
		NoLog:              true,
		NoSigs:             true,
		JetStream:          true,
		JetStreamMaxMemory: 64 << 20,
		JetStreamMaxStore:  1 << 30,
		StoreDir:           nd.storeDir,
		Cluster: server.ClusterOpts{
			Name: c.opts.Name,
			Host: "127.0.0.1",
			Port: nd.routePort,
		},
		Routes: routes,
	}
	if c.opts.configure != nil {
		c.opts.configure(i, o)
	}
	return o
}

func (c *natsCluster) startNode(i int) error {
	c.mu.Lock()
	if c.nodes[i].srv != nil {
		c.mu.Unlock()
		return fmt.Errorf("node %s is running", c.nodes[i].name)
	}
	o := c.serverOptions(i)
	c.mu.Unlock()
	// The server waits its whole ready timeout on a port it cannot bind;
	// find out at once instead, so that a caller can try again.
	for _, port := range []int{o.Port, o.Cluster.Port} {
		l, err := net.Listen("tcp", net.JoinHostPort(o.Host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("node %s: port %d: %w", o.ServerName, port, err)
		}
		l.Close()
	}
	s, err := server.NewServer(o)
	if err != nil {
		return fmt.Errorf("node %s: %w", o.ServerName, err)
	}
	s.Start()
	if !s.ReadyForConnections(c.opts.ReadyTimeout) {
		s.Shutdown()
		s.WaitForShutdown()
		return fmt.Errorf("node %s: not ready for connections on port %d within %s", o.ServerName, o.Port, c.opts.ReadyTimeout)
	}
	c.mu.Lock()
	c.nodes[i].srv = s
	c.mu.Unlock()
	return nil
}

// waitMeta waits until some node is the JetStream meta leader and every
// running node is current with the meta group.
func (c *natsCluster) waitMeta() error {
	return c.poll("a JetStream meta leader and current nodes", func() (bool, error) {
		leader := false
		for _, s := range c.running() {
			if s.JetStreamIsLeader() {
				leader = true
			}
			if !s.JetStreamIsCurrent() {
				return false, nil
			}
		}
		return leader, nil
	})
}

// poll calls cond until it reports true, an error, or ReadyTimeout passes.
func (c *natsCluster) poll(what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(c.opts.ReadyTimeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			if lastErr != nil {
				return fmt.Errorf("no %s within %s: %w", what, c.opts.ReadyTimeout, lastErr)
			}
			return fmt.Errorf("no %s within %s", what, c.opts.ReadyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *natsCluster) running() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*server.Server
	for _, nd := range c.nodes {
		if nd.srv != nil {
			out = append(out, nd.srv)
		}
	}
	return out
}

// URL returns node i's client URL; it stays the same across restarts.
func (c *natsCluster) URL(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(c.nodes[i].clientPort))
}

// URLs returns every node's client URL, comma-separated.
func (c *natsCluster) URLs() string {
	var us []string
	for i := range c.opts.Nodes {
		us = append(us, c.URL(i))
	}
	return strings.Join(us, ",")
}

// Name returns node i's server name.
func (c *natsCluster) Name(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].name
}

// NodeNamed returns the index of the node called name, or -1.
func (c *natsCluster) NodeNamed(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, nd := range c.nodes {
		if nd.name == name {
			return i
		}
	}
	return -1
}

// Kill stops node i at once (no lame-duck mode, no leader transfer), as a
// crash looks to its peers and clients, and waits until it is down.
func (c *natsCluster) Kill(i int) {
	c.t.Helper()
	c.mu.Lock()
	s := c.nodes[i].srv
	c.nodes[i].srv = nil
	c.mu.Unlock()
	if s == nil {
		c.t.Fatalf("cluster: kill %s: not running", c.Name(i))
	}
	s.Shutdown()
	s.WaitForShutdown()
}

// Restart starts the killed node i again on its store directory and ports.
// While another process holds one of its ports it tries again, until
// ReadyTimeout has passed.
func (c *natsCluster) Restart(i int) {
	c.t.Helper()
	deadline := time.Now().Add(c.opts.ReadyTimeout)
	for {
		err := c.startNode(i)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster: restart: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// streamInfo asks the cluster for the STAMP stream's info.
func (c *natsCluster) streamInfo() (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.mu.Lock()
	js := c.js
	c.mu.Unlock()
	st, err := js.Stream(ctx, domain.StreamName)
	if err != nil {
		return nil, err
	}
	return st.Info(ctx)
}

// StreamLeader returns the index of the node that leads the STAMP stream,
// waiting (bounded) while a leader is elected.
func (c *natsCluster) StreamLeader() int {
	c.t.Helper()
	leader := -1
	err := c.poll("STAMP stream leader", func() (bool, error) {
		info, err := c.streamInfo()
		if err != nil {
			return false, err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" {
			return false, errors.New("no leader")
		}
		leader = c.NodeNamed(info.Cluster.Leader)
		return leader >= 0, nil
	})
	if err != nil {
		c.t.Fatalf("cluster: %v", err)
	}
	return leader
}

// WaitHealthy waits until every node runs, the STAMP stream has a leader
// and all its replicas are current, as after a clean start.
func (c *natsCluster) WaitHealthy() {
	c.t.Helper()
	err := c.poll("healthy STAMP stream", func() (bool, error) {
		if len(c.running()) != c.opts.Nodes {
			return false, errors.New("a node is down")
		}
		info, err := c.streamInfo()
		if err != nil {
			return false, err
		}
		cl := info.Cluster
		if cl == nil || cl.Leader == "" {
			return false, errors.New("no stream leader")
		}
		if len(cl.Replicas) != c.opts.Nodes-1 {
			return false, fmt.Errorf("%d followers, want %d", len(cl.Replicas), c.opts.Nodes-1)
		}
		for _, r := range cl.Replicas {
			if !r.Current || r.Offline {
				return false, fmt.Errorf("replica %s not current", r.Name)
			}
		}
		return true, nil
	})
	if err != nil {
		c.t.Fatalf("cluster: %v", err)
	}
}

// shutdown stops the monitoring connection and every running node.
func (c *natsCluster) shutdown() {
	c.mu.Lock()
	if c.mon != nil {
		c.mon.Close()
		c.mon, c.js = nil, nil
	}
	var ss []*server.Server
	for _, nd := range c.nodes {
		if nd.srv != nil {
			ss = append(ss, nd.srv)
			nd.srv = nil
		}
	}
	c.mu.Unlock()
	for _, s := range ss {
		s.Shutdown()
		s.WaitForShutdown()
	}
}
