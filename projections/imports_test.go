package projections

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports: projections imports domain, Pebble and the standard library
// only. It must not reach the eventstore, httpapi, listeners or cmd (they
// would drag NATS or HTTP into the read models and cycles into the wiring);
// the eventstore comes in through the Source and Replayer ports instead.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if !allowedImport(path) {
				t.Errorf("%s imports %s; projections may import domain, Pebble and the standard library only", name, path)
			}
		}
	}
}

func allowedImport(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	switch {
	case !strings.Contains(first, "."): // standard library
		return true
	case path == "github.com/stamp-oauth/stamp/domain":
		return true
	case path == "github.com/cockroachdb/pebble/v2" || strings.HasPrefix(path, "github.com/cockroachdb/pebble/v2/"):
		return true
	}
	return false
}
