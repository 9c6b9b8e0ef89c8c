package projections

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damagedStore writes a store of some hundred keys in a new directory,
// closes it, damages its files with damage and returns the directory.
func damagedStore(t *testing.T, damage func(path string, name string)) string {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := s.db.Set([]byte(strings.Repeat("k", i%50+1)+string(rune(i))), make([]byte, 100), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		damage(filepath.Join(dir, e.Name()), e.Name())
	}
	return dir
}

func flipBytes(t *testing.T, path string, from, to float64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := int(float64(len(b)) * from); i < int(float64(len(b))*to); i++ {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptStoreIsAnError: damaged Pebble files make Open or Verify
// return ErrCorrupt, never panic.
func TestCorruptStoreIsAnError(t *testing.T) {
	cases := map[string]func(t *testing.T) string{
		"garbage everywhere": func(t *testing.T) string {
			return damagedStore(t, func(p, _ string) { flipBytes(t, p, 0, 1) })
		},
		"missing MANIFEST": func(t *testing.T) string {
			return damagedStore(t, func(p, name string) {
				if strings.HasPrefix(name, "MANIFEST") {
					os.Remove(p)
				}
			})
		},
		"garbage in a table": func(t *testing.T) string {
			return damagedStore(t, func(p, name string) {
				if strings.HasSuffix(name, ".sst") {
					flipBytes(t, p, 0.3, 0.5)
				}
			})
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			dir := build(t)
			s, err := Open(dir, Options{})
			if err == nil {
				err = s.Verify()
				s.Close()
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("opening and verifying a damaged store: %v; want ErrCorrupt", err)
			}
		})
	}
}

// TestOpenStoreInUse: a store open elsewhere is ErrInUse, not ErrCorrupt.
func TestOpenStoreInUse(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(dir, Options{})
	if !errors.Is(err, ErrInUse) || errors.Is(err, ErrCorrupt) {
		t.Errorf("opening a store open elsewhere: %v; want ErrInUse", err)
	}
	if err := s.Verify(); err != nil {
		t.Errorf("verify a sound store: %v", err)
	}
}
