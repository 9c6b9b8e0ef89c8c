package integration

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestEventstoreInternalImports holds the event store's machinery rooms
// (eventstore/internal/...) to the layout: TestImportRules already gives
// them their parent's rules (no pebble, no other adapter, no cmd); here
// each may import of ours only what its contract needs, domain imports
// none of them, and each exists (a rename must update this table).
func TestEventstoreInternalImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	internal := module + "/eventstore/internal/"
	// Of our packages, what each room may import, and why.
	allowed := map[string][]string{
		"groupcommit": nil,                  // scheduling of publishes: knows no event
		"replymux":    nil,                  // NATS request plumbing: knows no event
		"envelope":    {module + "/domain"}, // parses into domain.Envelope
	}
	imports := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		imports[pkg] = strings.Fields(deps)
	}
	for room, may := range allowed {
		pkg := internal + room
		deps, ok := imports[pkg]
		if !ok {
			t.Errorf("%s does not exist: update this table", pkg)
			continue
		}
		for _, d := range deps {
			if strings.HasPrefix(d, module+"/") && !slices.Contains(may, d) {
				t.Errorf("%s imports %s: its contract needs of ours only %v", pkg, d, may)
			}
		}
	}
	for pkg, deps := range imports {
		rel := strings.TrimPrefix(pkg, module+"/")
		for _, d := range deps {
			if !strings.HasPrefix(d, internal) {
				continue
			}
			if rel == "domain" || strings.HasPrefix(rel, "domain/") {
				t.Errorf("%s imports %s: domain imports no project package", pkg, d)
			}
			room := strings.SplitN(strings.TrimPrefix(d, internal), "/", 2)[0]
			if _, ok := allowed[room]; !ok {
				t.Errorf("%s imports %s, a room this test does not know: add it to the table", pkg, d)
			}
		}
	}
}
