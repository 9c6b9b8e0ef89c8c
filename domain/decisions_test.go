package domain

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// wantDecisions are the decisions known to exist: a floor, so that the
// check below cannot pass on a package that has none. Add each new
// grant's or command's decision here.
var wantDecisions = []string{
	// client_commands.go
	"decideRegisterClient", "decideUpdateClient", "decideRegenerateSecret", "decideDeleteClient",
	// user_commands.go
	"decideRegisterUser", "decideChangePassword", "decideDeleteUser", "decideLogin",
	// personal_access.go, session_token.go, session.go
	"decidePersonalAccessToken", "decideSessionToken", "decideRefreshSessionToken", "decideEndSessionToken", "decideEndSession",
	// revoke.go (RFC 7009)
	"decideRevocationOrder", "decideRevokeAsAccessToken", "decideRevokeAsRefreshToken", "decideRevokeAccessToken", "decideRevokeRefreshFamily",
	// user_code_entry.go (RFC 8628 §3.3)
	"decideUserCodeEntry",
	// user_tokens.go
	"decideRevokeUserToken", "decideRevokeClientAuthorization",
	// keys.go, maintenance.go, server_issuer.go
	"decideAnnounceSigningKey", "decideRotateSigningKey", "decidePurge", "decideChangeSettings",
	// introspect.go (RFC 7662)
	"decideIntrospection", "decideAccessTokenValid",
	// listener_decisions.go
	"DecideTokensReplaced", "DecideFamiliesPruned",
	// the token endpoint: client_auth.go, token_set.go, grant_*.go, dev_token.go
	"decideClientAuthentication", "decideTokenSet", "decideClientCredentials", "decidePasswordRequest", "decidePassword",
	"decideRefresh", "decideRotatedOut", "decideRefreshScopes", "decideAuthorizationCode", "decideDeviceCode",
	"decideDeviceApproval", "decideDevToken",
	// challenge_decide.go (login and consent delegation)
	"decideRequestChallenge", "decideChallengeAnswer", "decideChallengeReturn",
}

// notYetPure are functions named decide* that are not pure decisions yet,
// each with the reason. The test fails once one is pure or gone, so the
// exemption goes with it. Empty: every decision is pure.
var notYetPure = map[string]string{}

// TestDecisionsArePure parses the domain package and fails when a
// function named decide* (exported or not) has a receiver or takes a
// context.Context, a *Service, or a port: an interface declared in domain
// whose methods take a context.Context. A parameter of a struct type
// declared in domain is checked field by field, so a port cannot ride in
// a state. It also fails when fewer decisions exist than wantDecisions.
func TestDecisionsArePure(t *testing.T) {
	files := parseDomain(t)
	ports := portInterfaces(files)
	for _, p := range []string{"EventLog", "Waiter", "ClientReader", "UserKeys", "Freshness", "Limiter", "DevicePolls", "ClientLister"} {
		if !ports[p] {
			t.Errorf("the port %s is not in the computed set %v", p, keys(ports))
		}
	}
	decisions, problems := checkDecisions(files, ports)
	impureNames := map[string]bool{}
	for _, p := range problems {
		name, _, _ := strings.Cut(p, ":")
		impureNames[name] = true
		if _, ok := notYetPure[name]; !ok {
			t.Error(p)
		}
	}
	for name := range notYetPure {
		if !impureNames[name] {
			t.Errorf("%s is exempt but is pure or gone now: remove its exemption", name)
		}
	}
	for _, want := range wantDecisions {
		if !slices.Contains(decisions, want) {
			t.Errorf("the decision %s is missing", want)
		}
	}
	if pure := len(decisions) - len(notYetPure); pure < len(wantDecisions) {
		t.Errorf("found %d pure decisions; want at least %d", pure, len(wantDecisions))
	}
}

// TestDecisionCheckCatches runs the check on decisions that break each
// rule: it must report every one and pass the pure one.
func TestDecisionCheckCatches(t *testing.T) {
	src := `package domain
import ("context"; "io"; "time")
type Reader interface { Read(ctx context.Context, id string) (string, error) }
type Plain interface { Name() string }
type Service struct{}
type state struct { R Reader }
type nested struct { S state }
func decideWithContext(ctx context.Context, cmd string, now time.Time, rnd io.Reader) ([]string, error) { return nil, nil }
func (s *Service) decideMethod(st string, cmd string, now time.Time, rnd io.Reader) ([]string, error) { return nil, nil }
func decideWithService(s *Service, cmd string, now time.Time, rnd io.Reader) ([]string, error) { return nil, nil }
func DecideWithPort(r Reader, cmd string, now time.Time, rnd io.Reader) ([]string, error) { return nil, nil }
func decideWithPortList(rs []Reader, cmd string) ([]string, error) { return nil, nil }
func decideWithPortInState(st nested, cmd string) ([]string, error) { return nil, nil }
func decideWithContextFunc(load func(context.Context) error) error { return nil }
func decidePure(st state2, cmd Plain, now time.Time, rnd io.Reader) ([]string, error) { return nil, nil }
type state2 struct { N int; P Plain }
func notADecision(ctx context.Context) {}
`
	f, err := parser.ParseFile(token.NewFileSet(), "bad.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	files := []*ast.File{f}
	ports := portInterfaces(files)
	if !ports["Reader"] || ports["Plain"] {
		t.Fatalf("ports: got %v; want Reader only", keys(ports))
	}
	decisions, problems := checkDecisions(files, ports)
	if len(decisions) != 8 {
		t.Errorf("decisions: got %v; want the 8 decide functions", decisions)
	}
	var flagged []string
	for _, p := range problems {
		name, _, _ := strings.Cut(p, ":")
		if !slices.Contains(flagged, name) {
			flagged = append(flagged, name)
		}
	}
	sort.Strings(flagged)
	want := []string{"DecideWithPort", "decideMethod", "decideWithContext", "decideWithContextFunc", "decideWithPortInState", "decideWithPortList", "decideWithService"}
	if !slices.Equal(flagged, want) {
		t.Errorf("flagged %v; want %v (problems: %q)", flagged, want, problems)
	}
}

// parseDomain parses the package's non-test files.
func parseDomain(t *testing.T) []*ast.File {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || filepath.Ext(name) != ".go" || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		t.Fatal("no source files parsed")
	}
	return files
}

// portInterfaces returns the interface types declared in files with a
// method that takes a context.Context.
func portInterfaces(files []*ast.File) map[string]bool {
	ports := map[string]bool{}
	for _, spec := range typeSpecs(files) {
		it, ok := spec.Type.(*ast.InterfaceType)
		if !ok {
			continue
		}
		for _, m := range it.Methods.List {
			ft, ok := m.Type.(*ast.FuncType)
			if !ok {
				continue
			}
			for _, p := range ft.Params.List {
				if isContext(p.Type) {
					ports[spec.Name.Name] = true
				}
			}
		}
	}
	return ports
}

// checkDecisions returns the names of the functions named decide* (any
// case of the d) and, for each breach, "name: what".
func checkDecisions(files []*ast.File, ports map[string]bool) (decisions, problems []string) {
	structs := map[string]*ast.StructType{}
	for _, spec := range typeSpecs(files) {
		if st, ok := spec.Type.(*ast.StructType); ok {
			structs[spec.Name.Name] = st
		}
	}
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || !strings.HasPrefix(strings.ToLower(fn.Name.Name), "decide") {
				continue
			}
			name := fn.Name.Name
			decisions = append(decisions, name)
			if fn.Recv != nil {
				problems = append(problems, name+": has a receiver")
			}
			for _, p := range fn.Type.Params.List {
				for _, bad := range impure(p.Type, ports, structs, map[string]bool{}) {
					problems = append(problems, name+": takes "+bad)
				}
			}
		}
	}
	return decisions, problems
}

// impure returns what in the type expression x is a context.Context, a
// *Service or a port, looking into the fields of domain struct types.
func impure(x ast.Expr, ports map[string]bool, structs map[string]*ast.StructType, seen map[string]bool) []string {
	var out []string
	ast.Inspect(x, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			if isContext(n) {
				out = append(out, "a context.Context")
			}
			return false
		case *ast.Ident:
			switch {
			case n.Name == "Service":
				out = append(out, "a Service")
			case ports[n.Name]:
				out = append(out, "the port "+n.Name)
			case structs[n.Name] != nil && !seen[n.Name]:
				seen[n.Name] = true
				for _, f := range structs[n.Name].Fields.List {
					for _, bad := range impure(f.Type, ports, structs, seen) {
						out = append(out, bad+" (in "+n.Name+")")
					}
				}
			}
		}
		return true
	})
	return out
}

func isContext(x ast.Expr) bool {
	sel, ok := x.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && pkg.Name == "context" && sel.Sel.Name == "Context"
}

func typeSpecs(files []*ast.File) []*ast.TypeSpec {
	var out []*ast.TypeSpec
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, s := range g.Specs {
				out = append(out, s.(*ast.TypeSpec))
			}
		}
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
