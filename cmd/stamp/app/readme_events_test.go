package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stamp-oauth/stamp/domain"
)

// TestREADMEEventSubjects keeps the subject column of the README's event
// table true: each event's row names the subject it is published on,
// stamp.<kind>.<id>.<EventType>, as the event's golden sample (under
// domain/testdata/events) gives it, with a <placeholder> for an id that
// differs per aggregate (one its payload carries) and the literal id of a
// singleton aggregate (stamp.server.config).
func TestREADMEEventSubjects(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	cell := regexp.MustCompile("^`([^`]+)`")
	for _, typ := range domain.EventTypes() {
		var fv *domain.FutureVersionError
		if _, err := domain.Decode(domain.Envelope{Type: typ, Version: 1 << 20}); !errors.As(err, &fv) {
			t.Fatalf("%s: %v; want a FutureVersionError", typ, err)
		}
		env := goldenEnvelope(t, typ, fv.Known)
		e, err := domain.Decode(env)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		agg := e.AggregateOf()
		want := agg.Subject(typ)
		perAggregate := idFromPayload(t, env.Data, agg.ID)

		prefix := fmt.Sprintf("| `%s` | %d | ", typ, fv.Known)
		i := strings.Index(readme, prefix)
		if i < 0 {
			t.Errorf("README.md has no event row starting %q", prefix)
			continue
		}
		row := readme[i+len(prefix):]
		row = row[:strings.IndexByte(row, '\n')]
		m := cell.FindStringSubmatch(row)
		if m == nil {
			t.Errorf("the README's row of %s has no subject in its third column", typ)
			continue
		}
		got := m[1]
		parts := strings.Split(got, ".")
		ok := len(parts) == 4 && parts[0]+"."+parts[1] == domain.SubjectRoot+"."+agg.Kind && parts[3] == typ
		if ok && perAggregate {
			ok = strings.HasPrefix(parts[2], "<") && strings.HasSuffix(parts[2], ">")
		} else if ok {
			ok = parts[2] == agg.ID
		}
		if !ok {
			form := fmt.Sprintf("%s.%s.<id>.%s", domain.SubjectRoot, agg.Kind, typ)
			if !perAggregate {
				form = want
			}
			t.Errorf("the README's row of %s gives the subject %q; want %q", typ, got, form)
		}
	}
}

// idFromPayload reports whether the aggregate id id is made of the
// event's own values (the client id, a user id and a client id, ...), as
// opposed to a constant of a singleton aggregate ("config").
func idFromPayload(t *testing.T, data json.RawMessage, id string) bool {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case string:
			return len(v) >= 3 && strings.Contains(id, v)
		case []any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		case map[string]any:
			for _, x := range v {
				if walk(x) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// goldenEnvelope reads the golden sample of event type typ at version.
func goldenEnvelope(t *testing.T, typ string, version int) domain.Envelope {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "domain", "testdata", "events", fmt.Sprintf("%s.v%d.json", typ, version)))
	if err != nil {
		t.Fatal(err)
	}
	var env domain.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return env
}
