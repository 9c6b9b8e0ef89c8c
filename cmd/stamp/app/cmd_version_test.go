package app

import (
	"bytes"
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVersionText(t *testing.T) {
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-06T07:00:00Z"}, {Key: "vcs.modified", Value: "false"},
		}}, "stamp v1.2.3\ncommit 0123abcd\ncommit time 2026-12-06T07:00:00Z\ngo go1.26.8\n"},
		{"modified work tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "true"},
		}}, "stamp (devel)\ncommit 0123abcd (modified)\ngo go1.26.8\n"},
		{"no vcs", &debug.BuildInfo{GoVersion: "go1.26.8"}, "stamp (devel)\ncommit unknown\ngo go1.26.8\n"},
		{"no build info", nil, "stamp unknown\ncommit unknown\ngo unknown\n"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, versionText(tt.info)); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tt.name, diff)
		}
	}
}

// TestVersionCommand: `stamp version` and `stamp --version` print the
// same lines, this Go version among them, and exit 0 with no settings
// and no data directory; an argument is a usage error.
func TestVersionCommand(t *testing.T) {
	var outputs []string
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), args, IO{Stdout: &out, Stderr: &errOut})
		if code != 0 || errOut.Len() != 0 {
			t.Fatalf("%v: exit %d, stderr %q; want 0 and nothing", args, code, errOut.String())
		}
		if !strings.HasPrefix(out.String(), "stamp ") || !strings.Contains(out.String(), "\ncommit ") ||
			!strings.Contains(out.String(), "\ngo "+runtime.Version()+"\n") {
			t.Errorf("%v: got %q; want the version, the commit and %s", args, out.String(), runtime.Version())
		}
		outputs = append(outputs, out.String())
	}
	if outputs[0] != outputs[1] {
		t.Errorf("version and --version differ: %q, %q", outputs[0], outputs[1])
	}
	var out, errOut bytes.Buffer
	if code := Main(context.Background(), []string{"version", "extra"}, IO{Stdout: &out, Stderr: &errOut}); code != 2 {
		t.Errorf("version extra: exit %d; want 2", code)
	}
}
