package domain

import "testing"

func TestShardSubjects(t *testing.T) {
	tok := Aggregate{Kind: KindToken, ID: "5a1e0c3e-0000-4000-8000-000000000001"}
	key := ShardKey(tok.ID)
	if !IsShardKey(key) || key != ShardKey(tok.ID) {
		t.Fatalf("ShardKey = %q; want a stable _xx key", key)
	}
	if got, want := tok.Subject("AccessTokenCreated"), "stamp.token."+key+".AccessTokenCreated"; got != want {
		t.Errorf("Subject = %q; want %q", got, want)
	}
	client := Aggregate{Kind: KindClient, ID: "c1"}
	if got := client.Subject("ClientRegistered"); got != "stamp.client.c1.ClientRegistered" {
		t.Errorf("a low-cardinality kind keeps its per-id subject: got %q", got)
	}
	seen := map[string]bool{}
	for i := range 10000 {
		seen[ShardKey(string(rune('a'+i%26))+string(rune('0'+i%10))+string(rune(i)))] = true
	}
	if len(seen) != Shards {
		t.Errorf("ids spread over %d shards; want %d", len(seen), Shards)
	}
	for _, tc := range []struct {
		subject string
		want    bool
	}{
		{tok.Subject("AccessTokenRevoked"), true},
		{"stamp.token." + tok.ID + ".AccessTokenRevoked", true}, // a log written before the shards
		{"stamp.token._ff.AccessTokenRevoked", key == "_ff"},
		{"stamp.token.other.AccessTokenRevoked", false},
		{tok.Subject("AccessTokenCreated"), false},
	} {
		if got := tok.OnSubject(tc.subject, "AccessTokenRevoked"); got != tc.want {
			t.Errorf("OnSubject(%q) = %v; want %v", tc.subject, got, tc.want)
		}
	}
	if client.OnSubject("stamp.client._00.ClientRegistered", "ClientRegistered") {
		t.Errorf("a client event on a shard subject was accepted")
	}
	if agg, ok := ParseAggregate(tok.String()); !ok || agg != tok {
		t.Errorf("ParseAggregate(%q) = %v, %v", tok.String(), agg, ok)
	}
	for _, bad := range []string{"", "token", "token/", "/x", "token/a.b"} {
		if _, ok := ParseAggregate(bad); ok {
			t.Errorf("ParseAggregate(%q) accepted", bad)
		}
	}
	if SlotID(tok, 3) == SlotID(tok, 4) || SlotID(tok, 3) != SlotID(tok, 3) || !ValidID(SlotID(tok, 3)) {
		t.Errorf("SlotID must be stable per (aggregate, sequence) and a valid id")
	}
}
