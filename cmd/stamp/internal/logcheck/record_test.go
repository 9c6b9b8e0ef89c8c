package logcheck

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

func TestRecord(t *testing.T) {
	good, err := domain.NewEnvelope("e1", domain.ClientDeleted{ClientID: "c1"}, time.Now(), domain.Actor{Kind: domain.ActorCLI})
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*domain.Envelope)) domain.Envelope { e := good; f(&e); return e }
	tests := []struct {
		name string
		rec  domain.Recorded
		want string // substring; "" for clean
	}{
		{"clean", domain.Recorded{Seq: 1, Subject: "stamp.client.c1.ClientDeleted", Envelope: good}, ""},
		{"refused", domain.Recorded{Seq: 2, Subject: "stamp.client.c1.ClientDeleted", Refused: "bad log signature"}, "refused: bad log signature"},
		{"unknown type", domain.Recorded{Seq: 3, Subject: "stamp.client.c1.ClientRenamed", Envelope: with(func(e *domain.Envelope) { e.Type = "ClientRenamed" })}, "unknown event type"},
		{"newer version", domain.Recorded{Seq: 4, Subject: "stamp.client.c1.ClientDeleted", Envelope: with(func(e *domain.Envelope) { e.Version = 99 })}, "version 99 is newer"},
		{"undecodable", domain.Recorded{Seq: 5, Subject: "stamp.client.c1.ClientDeleted", Envelope: with(func(e *domain.Envelope) { e.Data = json.RawMessage(`{"client_id":7}`) })}, "undecodable"},
		{"wrong subject", domain.Recorded{Seq: 6, Subject: "stamp.client.c2.ClientDeleted", Envelope: good}, "recorded on subject"},
	}
	for _, tt := range tests {
		got := Record(tt.rec)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: Record = %q; want %q", tt.name, got, tt.want)
		}
	}
}
