package domain

import "testing"

// An entry hash changes with each part it covers, moving bytes between
// parts changes it, and a digest depends on the entries and their order.
func TestLogEntryHash(t *testing.T) {
	base := LogEntryHash(7, LogEntrySigned, "stamp.a.b.C", "id", []byte(`{"x":1}`))
	if again := LogEntryHash(7, LogEntrySigned, "stamp.a.b.C", "id", []byte(`{"x":1}`)); again != base {
		t.Fatal("the entry hash is not deterministic")
	}
	for name, h := range map[string][32]byte{
		"sequence": LogEntryHash(8, LogEntrySigned, "stamp.a.b.C", "id", []byte(`{"x":1}`)),
		"status":   LogEntryHash(7, LogEntryRefused, "stamp.a.b.C", "id", []byte(`{"x":1}`)),
		"unsigned": LogEntryHash(7, LogEntryUnsigned, "stamp.a.b.C", "id", []byte(`{"x":1}`)),
		"subject":  LogEntryHash(7, LogEntrySigned, "stamp.a.b.D", "id", []byte(`{"x":1}`)),
		"msg id":   LogEntryHash(7, LogEntrySigned, "stamp.a.b.C", "ie", []byte(`{"x":1}`)),
		"payload":  LogEntryHash(7, LogEntrySigned, "stamp.a.b.C", "id", []byte(`{"x":2}`)),
		"framing":  LogEntryHash(7, LogEntrySigned, "stamp.a.b.Ci", "d", []byte(`{"x":1}`)),
	} {
		if h == base {
			t.Errorf("changing the %s leaves the entry hash as it was", name)
		}
	}
	other := LogEntryHash(8, LogEntrySigned, "stamp.a.b.C", "id2", nil)
	digest := func(entries ...[32]byte) string {
		d := NewLogDigest()
		for _, e := range entries {
			d.Add(e)
		}
		if d.Len() != uint64(len(entries)) {
			t.Errorf("Len = %d; want %d", d.Len(), len(entries))
		}
		return d.Sum()
	}
	ab, ba, a := digest(base, other), digest(other, base), digest(base)
	if ab == ba || ab == a || ab != digest(base, other) || len(ab) != 43 {
		t.Errorf("digests %s, %s, %s; want order and content to matter, 43 characters", ab, ba, a)
	}
}
