package eventstore

import (
	"encoding/json"
	"errors"
	"testing"
)

// decode names the sequence it read and wraps every refusal of the
// envelope parser in ErrNotEnvelope.
func TestDecode(t *testing.T) {
	good, _ := json.Marshal(env("e1", "A"))
	rec, err := decode(7, "stamp.token.a.A", good)
	if err != nil || rec.Seq != 7 || rec.Subject != "stamp.token.a.A" || rec.Envelope.ID != "e1" {
		t.Errorf("decode(%s) = %+v, %v; want e1 at 7 on stamp.token.a.A", good, rec, err)
	}
	for _, body := range []string{`not json`, `{"id":"e1"}`, ``} {
		if rec, err := decode(7, "stamp.token.a.A", []byte(body)); !errors.Is(err, ErrNotEnvelope) {
			t.Errorf("decode(%s) = %+v, %v; want ErrNotEnvelope", body, rec, err)
		}
	}
}
