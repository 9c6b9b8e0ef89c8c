package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The README's quick start, as TestREADMEQuickStart reads it: one
// ```sh quickstart-serve block (the server's command, for the first
// terminal), then ```sh quickstart blocks, each optionally followed by a
// ```text quickstart-output block with what it prints. A block with no
// output block must print nothing.
const (
	fenceServe  = "```sh quickstart-serve"
	fenceCmd    = "```sh quickstart"
	fenceOutput = "```text quickstart-output"
	// readmeAddr is the address the README's commands and outputs use;
	// the test serves on a free port instead and substitutes it.
	readmeAddr = "127.0.0.1:8080"
	// readmeAny in an output block stands for an id, a secret, a token
	// or a time: one or more characters other than space and '"'.
	readmeAny = "…"
)

// quickStep is one command block of the quick start and the output the
// README shows for it.
type quickStep struct {
	line   int // of the command block, for messages
	script string
	output string
}

// readmeQuickStart returns the server command and the steps of the quick
// start of readme.
func readmeQuickStart(readme string) (serve string, steps []quickStep, err error) {
	lines := strings.Split(readme, "\n")
	block := func(i int) (string, int, error) { // the body of the block opening at i, and the line after it
		for j := i + 1; j < len(lines); j++ {
			if lines[j] == "```" {
				return strings.Join(lines[i+1:j], "\n") + "\n", j + 1, nil
			}
		}
		return "", 0, fmt.Errorf("README.md:%d: the block is not closed", i+1)
	}
	for i := 0; i < len(lines); i++ {
		switch strings.TrimSpace(lines[i]) {
		case fenceServe:
			if serve != "" {
				return "", nil, fmt.Errorf("README.md:%d: a second %s block", i+1, fenceServe)
			}
			body, next, err := block(i)
			if err != nil {
				return "", nil, err
			}
			serve, i = strings.TrimSpace(body), next-1
		case fenceCmd:
			body, next, err := block(i)
			if err != nil {
				return "", nil, err
			}
			st := quickStep{line: i + 1, script: body}
			j := next
			for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
				j++
			}
			if j < len(lines) && strings.TrimSpace(lines[j]) == fenceOutput {
				out, after, err := block(j)
				if err != nil {
					return "", nil, err
				}
				st.output, next = out, after
			}
			steps = append(steps, st)
			i = next - 1
		case fenceOutput:
			return "", nil, fmt.Errorf("README.md:%d: an output block that follows no quickstart command block", i+1)
		}
	}
	if serve == "" || len(steps) == 0 {
		return "", nil, fmt.Errorf("README.md has no %s block or no %s blocks", fenceServe, fenceCmd)
	}
	return serve, steps, nil
}

// outputPattern turns an output block into a regular expression of the
// whole output: literal text, with readmeAny standing for a run of
// characters other than space and '"'.
func outputPattern(want string) *regexp.Regexp {
	parts := strings.Split(want, readmeAny)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`\A` + strings.Join(parts, `[^\s"]+`) + `\z`)
}

func TestReadmeQuickStartParser(t *testing.T) {
	readme := "x\n```sh quickstart-serve\nstamp serve\n```\n```sh quickstart\nA=1\n```\n\n```sh quickstart\necho $A\n```\n\n```text quickstart-output\n1\n```\n"
	serve, steps, err := readmeQuickStart(readme)
	if err != nil || serve != "stamp serve" || len(steps) != 2 || steps[0].output != "" || steps[1].script != "echo $A\n" || steps[1].output != "1\n" {
		t.Errorf("got %q, %+v, %v; want the server command and two steps, the second with its output", serve, steps, err)
	}
	for _, bad := range []string{
		"```sh quickstart\nA=1\n```\n",                                      // no server
		"```sh quickstart-serve\nstamp serve\n```\n",                        // no step
		"```sh quickstart-serve\nstamp serve\n```\n```sh quickstart\nA=1\n", // unclosed
		"```sh quickstart-serve\nstamp serve\n```\n```text quickstart-output\n1\n```\n",
	} {
		if _, _, err := readmeQuickStart(bad); err == nil {
			t.Errorf("readmeQuickStart(%q): got nil; want an error", bad)
		}
	}
	for _, tt := range []struct {
		want, got string
		match     bool
	}{
		{`{"a":"…","n":…}` + "\n", `{"a":"x-1","n":17}` + "\n", true},
		{`{"a":"eyJ…"}` + "\n", `{"a":"eyJhb.c_d"}` + "\n", true},
		{`{"a":"…"}` + "\n", `{"a":""}` + "\n", false},
		{`{"a":"…"}` + "\n", `{"a":"x","b":"y"}` + "\n", false},
		{`{"a":1}` + "\n", `{"a":1}`, false},
		{"x\n", "x\ny\n", false},
	} {
		if got := outputPattern(tt.want).MatchString(tt.got); got != tt.match {
			t.Errorf("outputPattern(%q) on %q = %v; want %v", tt.want, tt.got, got, tt.match)
		}
	}
}

// TestREADMEQuickStart runs the README's quick start verbatim with a
// freshly built stamp on PATH, in sh, against a real server it started
// with the README's own command, and compares every output the README
// shows. Only the address differs: the server listens on a free port,
// which replaces 127.0.0.1:8080 in the commands and the outputs. It needs
// sh, curl and jq, as the README says.
func TestREADMEQuickStart(t *testing.T) {
	for _, tool := range []string{"sh", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README's quick start needs %s: %v", tool, err)
		}
	}
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	serveCmd, steps, err := readmeQuickStart(string(b))
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	binDir := filepath.Join(dir, "bin")
	if out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "stamp"), "../cmd/stamp").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work := filepath.Join(dir, "work") // the reader's directory: ./stamp-data lands here
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	// A clean environment: the reader's PATH with stamp first, and the
	// address; no STAMP_* setting of the machine running the test.
	environ := []string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + dir, "STAMP_HTTP_ADDR=" + addr, "STAMP_NATS_PORT=-1",
	}
	local := func(s string) string { return strings.ReplaceAll(s, readmeAddr, addr) }

	serve := exec.Command("sh", "-c", "exec "+serveCmd)
	serve.Dir, serve.Env = work, environ
	var serveLog bytes.Buffer
	serve.Stdout, serve.Stderr = &serveLog, &serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			serve.Process.Kill()
			<-exited
		}
	})
	waitReady(t, "http://"+addr+"/health/ready", exited, &serveLog)

	// One sh runs every step, so variables carry over; a marker line
	// after each step splits the output, and -e stops at a failing one.
	const marker = "@@readme-step-done@@"
	var script strings.Builder
	for _, st := range steps {
		script.WriteString(local(st.script))
		script.WriteString("echo " + marker + "\n")
	}
	sh := exec.Command("sh", "-e", "-c", script.String())
	sh.Dir, sh.Env = work, environ
	var stdout, stderr bytes.Buffer
	sh.Stdout, sh.Stderr = &stdout, &stderr
	runErr := sh.Run()
	outs := strings.Split(stdout.String(), marker+"\n")
	for i, st := range steps {
		if i >= len(outs)-1 {
			t.Fatalf("README.md:%d: the quick start stopped at this step (%v)\nits stdout so far:\n%s\nstderr:\n%s", st.line, runErr, outs[len(outs)-1], stderr.String())
		}
		want := local(st.output)
		if !outputPattern(want).MatchString(outs[i]) {
			t.Errorf("README.md:%d: the step printed\n%s\nwant (… for any id, token or time)\n%s", st.line, outs[i], want)
		}
	}
	if runErr != nil {
		t.Fatalf("the quick start: %v\nstderr:\n%s", runErr, stderr.String())
	}

	// The last step stops the server: it must exit, cleanly, and leave
	// no serve.json behind.
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("the server exited with %v after the quick start's stop command; want 0\n%s", err, serveLog.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the server still runs 30s after the quick start's stop command\n%s", serveLog.String())
	}
	if _, err := os.Stat(filepath.Join(work, "stamp-data", "serve.json")); !os.IsNotExist(err) {
		t.Errorf("serve.json after the stop: %v; want it removed", err)
	}
}

// waitReady polls url until it answers 200, failing when the server exits
// first or after 60s.
func waitReady(t *testing.T, url string, exited <-chan error, log *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("the server exited before it was ready: %v\n%s", err, log.String())
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server was not ready within 60s (%v)\n%s", err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
