package projections

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tableFiles returns the names of the .sst files in dir.
func tableFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".sst") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestVerifyIncremental: the first call reads every table, a later one
// only the tables written since (and its share of the old ones), and a
// damaged table it has not read yet is ErrCorrupt; a damaged table it
// trusts is found when its turn to be read again comes.
func TestVerifyIncremental(t *testing.T) {
	dir := damagedStore(t, func(string, string) {}) // intact: one table
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.verifyIncremental(0, 0)
	if err != nil || v.Tables != 1 || v.Skipped != 0 {
		t.Fatalf("first verify = %+v, %v; want 1 table read", v, err)
	}
	if v, err = s.verifyIncremental(0, 0); err != nil || v.Tables != 0 || v.Skipped != 1 {
		t.Fatalf("second verify = %+v, %v; want the table skipped", v, err)
	}
	// A new table: only it is read.
	if err := s.db.Set([]byte("new"), []byte("value"), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if v, err = s.verifyIncremental(0, 0); err != nil || v.Tables != 1 || v.Skipped != 1 {
		t.Fatalf("verify after a flush = %+v, %v; want the new table read, the old skipped", v, err)
	}
	// With a budget, the table verified longest ago is read again.
	if v, err = s.verifyIncremental(1, 0); err != nil || v.Tables != 1 || v.Skipped != 1 {
		t.Fatalf("verify with a budget = %+v, %v; want one old table read again", v, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Damage every table: the list survives a reopen, so a call without
	// budget trusts them (Pebble's own reads still check each block), and
	// one that must read a table finds the damage.
	for _, name := range tableFiles(t, dir) {
		flipBytes(t, filepath.Join(dir, name), 0.3, 0.5)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err = s.verifyIncremental(0, 0); err != nil || v.Tables != 0 {
		t.Fatalf("verify of trusted tables = %+v, %v; want none read", v, err)
	}
	if _, err = s.verifyIncremental(1<<40, 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify reading every table again: %v; want ErrCorrupt", err)
	}
	if _, err := os.Stat(filepath.Join(dir, verifiedFile)); err != nil {
		t.Errorf("the list of verified tables: %v", err)
	}
}
