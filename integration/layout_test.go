package integration

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/stamp-oauth/stamp"

// TestImportRules fails the build when a package imports what the layout
// forbids (DESIGN.md "Layout", STYLE.md rule 1).
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f", `{{.ImportPath}}:{{join .Deps " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	adapters := []string{"eventstore", "projections", "httpapi", "listeners"}
	type rule struct {
		pkg, forbidden, why string
	}
	var rules []rule
	for _, bad := range []string{"github.com/nats-io/", "github.com/cockroachdb/pebble", "net/http", "github.com/julienschmidt/httprouter"} {
		rules = append(rules, rule{"domain", bad, "domain holds pure rules and does no I/O"})
	}
	for _, a := range adapters {
		rules = append(rules, rule{"domain", module + "/" + a, "domain imports no project package"})
		for _, b := range adapters {
			if a != b {
				rules = append(rules, rule{a, module + "/" + b, "adapters meet only in cmd/stamp"})
			}
		}
		rules = append(rules, rule{a, module + "/cmd/", "adapters do not know the binary"})
	}
	rules = append(rules,
		rule{"domain", module + "/cmd/", "domain imports no project package"},
		rule{"projections", "github.com/nats-io/", "read models learn events through the Source port"},
		rule{"httpapi", "github.com/nats-io/", "handlers reach the log only through the service"},
		rule{"httpapi", "github.com/cockroachdb/pebble", "handlers reach read models only through ports"},
		rule{"eventstore", "github.com/cockroachdb/pebble", "the event store is JetStream only"},
		rule{"httpapi/guard/guardtest", "github.com/nats-io/", "apps test their routes with guardtest without NATS"},
		rule{"httpapi/guard/guardtest", module + "/eventstore", "apps test their routes with guardtest without NATS"},
	)
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		rel := strings.TrimPrefix(pkg, module+"/")
		for _, r := range rules {
			if rel != r.pkg && !strings.HasPrefix(rel, r.pkg+"/") {
				continue
			}
			checked++
			for _, d := range strings.Fields(deps) {
				if d == r.forbidden || strings.HasPrefix(d, r.forbidden) {
					t.Errorf("%s imports %s: %s", pkg, d, r.why)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatalf("no package was checked; the module path or layout changed")
	}
}

// TestCmdInternalLayout holds the parts app composes to their contracts:
// cmd/stamp/internal/... is imported by cmd/stamp/... only (Go's internal
// rule enforces it too; this says why), and each part imports of ours
// exactly what its doc comment states, so a protocol or an algorithm does
// not grow a storage or a transport behind app's back. Deps are
// transitive: "domain only" means nothing of ours but domain, at any depth.
func TestCmdInternalLayout(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f", `{{.ImportPath}}:{{join .Deps " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const internal = "cmd/stamp/internal/"
	infra := map[string]string{
		"github.com/nats-io/":                 "NATS",
		"github.com/cockroachdb/pebble":       "Pebble",
		"net/http":                            "net/http",
		"github.com/julienschmidt/httprouter": "httprouter",
	}
	// Each part: the packages of ours it may import (transitively), the
	// infrastructure it may use, and why.
	parts := map[string]struct {
		ours  []string
		infra []string
		why   string
	}{
		"loadgen":   {[]string{"domain"}, []string{"net/http"}, "the load generator speaks HTTP to a server and signs with the domain's signer; it opens no store"},
		"replayctl": {nil, nil, "the replay protocol speaks through its Responder and Requester interfaces; what a replay does is its caller's"},
		"logcheck":  {[]string{"domain"}, nil, "the log checks judge domain records read through an interface"},
		"freshness": {nil, nil, "the coalescer knows the stream and the read models through one-method interfaces"},
		"memlimit":  {[]string{"domain"}, nil, "the in-memory limiter is domain.Rate arithmetic in a map"},
		"clilog":    {[]string{"domain"}, nil, "the CLI's fold of the log reads records through an interface"},
		"memtrim":   {nil, nil, "the trim asks the C allocator for its free pages; it knows nothing of ours"},
		"rebuild":   {[]string{"domain", "projections"}, []string{"github.com/cockroachdb/pebble", "net/http"}, "the rebuild moves read-model directories; it knows neither the event store nor the protocol"},
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		rel := strings.TrimPrefix(pkg, module+"/")
		inCmdStamp := rel == "cmd/stamp" || strings.HasPrefix(rel, "cmd/stamp/")
		part, isPart := "", false
		if name, ok := strings.CutPrefix(rel, internal); ok {
			part, _, _ = strings.Cut(name, "/")
			isPart = true
		}
		if isPart {
			seen[part] = true
		}
		rule, known := parts[part]
		if isPart && !known {
			t.Errorf("%s: a part of cmd/stamp/internal without a rule here: state what it may import", pkg)
		}
		for _, d := range strings.Fields(deps) {
			drel, ours := strings.CutPrefix(d, module+"/")
			if ours && strings.HasPrefix(drel, internal) && !inCmdStamp {
				t.Errorf("%s imports %s: cmd/stamp/internal serves the binary only", pkg, d)
			}
			if !isPart || !known {
				continue
			}
			if ours {
				if dpart, ok := strings.CutPrefix(drel, internal); ok && (dpart == part || strings.HasPrefix(dpart, part+"/")) {
					continue // itself or its own sub-packages
				}
				allowed := false
				for _, a := range rule.ours {
					allowed = allowed || drel == a || strings.HasPrefix(drel, a+"/")
				}
				if !allowed {
					t.Errorf("%s imports %s: %s", pkg, d, rule.why)
				}
				continue
			}
			for prefix, name := range infra {
				if !strings.HasPrefix(d, prefix) {
					continue
				}
				allowed := false
				for _, a := range rule.infra {
					allowed = allowed || strings.HasPrefix(prefix, a)
				}
				if !allowed {
					t.Errorf("%s imports %s (%s): %s", pkg, d, name, rule.why)
				}
			}
		}
	}
	for part := range parts {
		if !seen[part] {
			t.Errorf("no package %s%s: the layout changed; update this test", internal, part)
		}
	}
}
