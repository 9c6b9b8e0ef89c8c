package envelope

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stamp-oauth/stamp/domain"
)

var testTime = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// env returns an envelope of type typ with id id and a small body, as the
// event store's tests append.
func env(id, typ string) domain.Envelope {
	return domain.Envelope{ID: id, Type: typ, Version: 1, Time: testTime,
		Actor: domain.Actor{Kind: domain.ActorSystem}, Data: json.RawMessage(fmt.Sprintf(`{"id":%q}`, id))}
}

// Every envelope the event store writes (json.Marshal's layout) takes the
// fast path, and Parse returns what json.Unmarshal does.
func TestParseFastTakesMarshaledEnvelopes(t *testing.T) {
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
		if !parseFast(body, &fast) {
			t.Errorf("parseFast(%s) = false; want true", body)
			continue
		}
		var slow domain.Envelope
		if err := json.Unmarshal(body, &slow); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Errorf("parseFast(%s) (-json +fast):\n%s", body, diff)
		}
		got, err := Parse(body)
		if err != nil {
			t.Errorf("Parse(%s): %v", body, err)
		}
		if diff := cmp.Diff(slow, got); diff != "" {
			t.Errorf("Parse(%s) (-json +got):\n%s", body, diff)
		}
	}
}

// Parse keeps no reference to the body: the caller may reuse its buffer.
func TestParseCopiesData(t *testing.T) {
	body, err := json.Marshal(env("e1", "A"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	want := string(got.Data)
	for i := range body {
		body[i] = 'x'
	}
	if string(got.Data) != want {
		t.Errorf("Data after the body was overwritten = %s; want %s", got.Data, want)
	}
}

func TestParse(t *testing.T) {
	good, _ := json.Marshal(env("e1", "A"))
	tests := []struct {
		body       string
		ok         bool
		incomplete bool // valid JSON, no id or type
	}{
		{string(good), true, false},
		{`{ "type": "A", "id": "e1", "data": {} }`, true, false}, // another writer: slow path
		{`{"ID":"e1","Type":"A"}`, true, false},                  // encoding/json matches keys case-insensitively
		{`{"id":"e1","type":"A","version":1,"time":"2025-01-01T00:00:00Z","actor":{"kind":"system"},"data":{}} `, true, false},
		{`not json`, false, false},
		{`{"hello":"world"}`, false, true},
		{`{"id":"e1"}`, false, true},
		{`{"id":"e1","type":""}`, false, true},
		{`{"type":"A"}`, false, true},
		{``, false, false},
		{`null`, false, true},
		{`{"id":"e1","type":"A","version":1,"time":"2025-01-01T00:00:00Z","actor":{"kind":"system"},"data":{}`, false, false},
		{`{"id":"e1","type":"A","version":1,"time":"2025-01-01T00:00:00Z","actor":{"kind":"system"},"data":{}},"x":1}`, false, false},
	}
	for _, tt := range tests {
		got, err := Parse([]byte(tt.body))
		switch {
		case tt.ok && (err != nil || got.ID != "e1" || got.Type != "A"):
			t.Errorf("Parse(%s) = %+v, %v; want e1 of type A", tt.body, got, err)
		case !tt.ok && err == nil:
			t.Errorf("Parse(%s) = %+v; want an error", tt.body, got)
		case !tt.ok && errors.Is(err, ErrIncomplete) != tt.incomplete:
			t.Errorf("Parse(%s): err = %v; want ErrIncomplete: %v", tt.body, err, tt.incomplete)
		}
	}
}

// Whenever parseFast accepts a body, json.Unmarshal agrees with it.
func FuzzParseFast(f *testing.F) {
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
		if !parseFast(body, &fast) {
			return
		}
		var slow domain.Envelope
		if err := json.Unmarshal(body, &slow); err != nil {
			t.Fatalf("parseFast accepted %q, json.Unmarshal says %v", body, err)
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Fatalf("parseFast(%q) (-json +fast):\n%s", body, diff)
		}
	})
}
