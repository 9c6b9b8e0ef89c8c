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
