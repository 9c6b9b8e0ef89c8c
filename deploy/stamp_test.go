package deploy

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/stamp-oauth/stamp/cmd/stamp/app"
)

// readEnvFile returns the variables of an environment file as systemd's
// EnvironmentFile reads the simple form the example uses (NAME=value,
// the value in double quotes where it has spaces or semicolons).
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not NAME=value", path, line)
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1] // systemd and sh both drop the quotes
		}
		vars[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vars
}

// TestStampEnvLoads: the example settings are valid for stamp, name only
// settings stamp reads, set one issuer, the NATS cluster and three
// replicas, and the systemd unit lets stamp write its data directory.
func TestStampEnvLoads(t *testing.T) {
	vars := readEnvFile(t, filepath.Join("stamp", "stamp.env.example"))
	read := map[string]bool{}
	c, err := app.LoadConfig(nil, func(k string) string { read[k] = true; return vars[k] })
	if err != nil {
		t.Fatalf("stamp rejects stamp.env.example: %v", err)
	}
	for k := range vars {
		if !read[k] {
			t.Errorf("stamp.env.example sets %s, which stamp does not read", k)
		}
	}
	if vars["STAMP_ISSUER"] == "" || c.NATSURL == "" || len(strings.Split(c.NATSURL, ",")) != 3 || c.Replicas != 3 {
		t.Errorf("issuer %q, nats_url %q, replicas %d; want an explicit issuer, the three nodes and 3 replicas", vars["STAMP_ISSUER"], c.NATSURL, c.Replicas)
	}
	for _, k := range []string{"STAMP_PRIVATE_KEY_FILE", "STAMP_SEALING_KEY_FILE"} {
		if vars[k] == "" || strings.HasPrefix(vars[k], c.DataDir) {
			t.Errorf("%s = %q; want a shared key file outside the instance's data directory", k, vars[k])
		}
	}
	unit, err := os.ReadFile(filepath.Join("systemd", "stamp.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ReadWritePaths=" + c.DataDir + "\n", "StateDirectory=" + filepath.Base(c.DataDir) + "\n", "EnvironmentFile=/etc/stamp/stamp.env\n", "ProtectSystem=strict\n", "NoNewPrivileges=yes\n"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("stamp.service lacks %q", strings.TrimSpace(want))
		}
	}
}

// TestNATSUnitWritesStoreDirs: nats-server@.service runs the node files
// and may write each node's JetStream store.
func TestNATSUnitWritesStoreDirs(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join("systemd", "nats-server@.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/nats-server -c /etc/nats/nats-%i.conf\n") {
		t.Error("nats-server@.service does not run /etc/nats/nats-%i.conf")
	}
	dir := installNATSConfig(t, nil)
	for _, node := range []string{"nats-1.conf", "nats-2.conf", "nats-3.conf"} {
		opts, err := server.ProcessConfigFile(filepath.Join(dir, node))
		if err != nil {
			t.Fatal(err)
		}
		rw := "ReadWritePaths=" + filepath.Dir(opts.StoreDir) + "\n"
		if !strings.Contains(string(unit), rw) || !strings.Contains(string(unit), "StateDirectory="+filepath.Base(filepath.Dir(opts.StoreDir))+"\n") {
			t.Errorf("%s stores in %s; want nats-server@.service to have %q and a matching StateDirectory", node, opts.StoreDir, strings.TrimSpace(rw))
		}
	}
}
