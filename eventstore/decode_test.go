package eventstore

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

// Every envelope Append writes takes the fast path.
func TestDecodeFastTakesAppendedEnvelopes(t *testing.T) {
	envs := []domain.Envelope{
		env("e1", "AccessTokenCreated"),
		{ID: "x", Type: "T", Version: 12, Time: time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.UTC), Actor: domain.Actor{Kind: domain.ActorUser, ID: "u-1"}, Data: json.RawMessage(`{"a":[1,2,{"b":null}],"c":"d\"e"}`)},
		{ID: "y", Type: "T", Version: 0, Actor: domain.Actor{Kind: domain.ActorCLI}, Data: json.RawMessage(`"text"`)},
		{ID: "z", Type: "T", Version: 1, Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600))},
	}
	for _, e := range envs {
		body, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var fast domain.Envelope
		if !decodeFast(body, &fast) {
			t.Errorf("decodeFast(%s) = false; want true", body)
			continue
		}
		var slow domain.Envelope
		if err := json.Unmarshal(body, &slow); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Errorf("decodeFast(%s) (-json +fast):\n%s", body, diff)
		}
	}
}

func TestDecode(t *testing.T) {
	good, _ := json.Marshal(env("e1", "A"))
	tests := []struct {
		body string
		ok   bool
	}{
		{string(good), true},
		{`{ "type": "A", "id": "e1", "data": {} }`, true}, // another writer: slow path
		{`{"ID":"e1","Type":"A"}`, true},                  // encoding/json matches keys case-insensitively
		{`{"id":"e1","type":"A","version":1,"time":"2025-01-01T00:00:00Z","actor":{"kind":"system"},"data":{}} `, true},
		{`not json`, false},
		{`{"hello":"world"}`, false},
		{`{"id":"e1"}`, false},
		{`{"id":"e1","type":"A","version":1,"time":"2025-01-01T00:00:00Z","actor":{"kind":"system"},"data":{}`, false},
		{`{"id":"e1","type":"A","version":1,"time":"2025-01-01T00:00:00Z","actor":{"kind":"system"},"data":{}},"x":1}`, false},
	}
	for _, tt := range tests {
		rec, err := decode(7, "stamp.token.a.A", []byte(tt.body))
		if tt.ok && (err != nil || rec.Seq != 7 || rec.Envelope.ID != "e1") {
			t.Errorf("decode(%s) = %+v, %v; want e1 at 7", tt.body, rec, err)
		}
		if !tt.ok && !errors.Is(err, ErrNotEnvelope) {
			t.Errorf("decode(%s): err = %v; want ErrNotEnvelope", tt.body, err)
		}
	}
}

// Whenever decodeFast accepts a body, json.Unmarshal agrees with it.
func FuzzDecodeFast(f *testing.F) {
	for _, e := range []domain.Envelope{
		env("e1", "AccessTokenCreated"),
		{ID: "x", Type: "T", Version: 3, Actor: domain.Actor{Kind: "user", ID: "u"}, Data: json.RawMessage(`[1,"2",{"3":true}]`)},
	} {
		body, _ := json.Marshal(e)
		f.Add(body)
	}
	f.Add([]byte(`{"id":"a","type":"b","version":01,"time":"2025-01-01T00:00:00Z","actor":{"kind":"k"},"data":1}`))
	f.Add([]byte(`{"id":"a","type":"b","version":1,"time":"2025-01-01T00:00:00Z","actor":{"kind":"k"},"data":1 }`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast domain.Envelope
		if !decodeFast(body, &fast) {
			return
		}
		var slow domain.Envelope
		if err := json.Unmarshal(body, &slow); err != nil {
			t.Fatalf("decodeFast accepted %q, json.Unmarshal says %v", body, err)
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Fatalf("decodeFast(%q) (-json +fast):\n%s", body, diff)
		}
	})
}
