package domain

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files of new event versions")

// goldenEvents holds one sample of every event type at its current
// version. The golden file of each is the wire form that version was
// released with; it must stay decodable to the same value forever.
func goldenEvents() []Event {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return append([]Event{
		ClientRegistered{ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", Name: "Billing", SecretHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Grants: []string{"client_credentials"}, Scopes: []string{"read"}, UserID: "u-1", FirstParty: true, RegisteredAt: at},
		ClientUpdated{ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", Name: "Billing 2", RedirectURIs: []string{"https://app.example/cb"}, Scopes: []string{"read", "write"}},
		ClientSecretRegenerated{ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", SecretHash: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"},
		ClientDeleted{ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10"},
		AccessTokenCreated{TokenID: "5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", Scopes: []string{"read"}, GrantType: "client_credentials", KeyID: "kid-1", IssuedAt: at, ExpiresAt: at.Add(time.Hour)},
		AccessTokenRevoked{TokenID: "5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", ExpiresAt: at.Add(time.Hour), Reason: ReasonRevokedByClient},
		RefreshTokenCreated{FamilyID: "f-1", RefreshTokenID: "r-2", ParentID: "r-1", TokenHash: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", AccessTokenID: "5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", UserID: "u-1", Scopes: []string{"read"}, IssuedAt: at, ExpiresAt: at.Add(720 * time.Hour)},
		RefreshTokenRevoked{FamilyID: "f-1", RefreshTokenID: "r-2", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", UserID: "u-1", Reason: ReasonPruned},
		RefreshTokenReuseDetected{FamilyID: "f-1", RefreshTokenID: "r-1", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", UserID: "u-1"},
		UserRegistered{UserID: "u-1", EmailSealed: "q7yXfZ0mY2x1c2VhbGVkLWVtYWlsLWNpcGhlcnRleHQ", NameSealed: "bm9uY2Utbm9uY2Utc2VhbGVkLW5hbWU", EmailKey: "5c1b7a3e0f0e4d8a9b2c6d1e3f4a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6", PasswordSealed: "c2VhbGVkLWFyZ29uMmlkLWhhc2g", RegisteredAt: at},
		UserPasswordChanged{UserID: "u-1", PasswordSealed: "bmV3LXNlYWxlZC1oYXNo"},
		UserDeleted{UserID: "u-1"},
		UserEmailClaimed{EmailKey: "3a5e6c4e2cbbd2d1d9e4b0a9a1f0b7d1c0c0f2f6a1f7f2c1e0d9b8a7c6b5a4f3", UserID: "u-1"},
		UserEmailReleased{EmailKey: "3a5e6c4e2cbbd2d1d9e4b0a9a1f0b7d1c0c0f2f6a1f7f2c1e0d9b8a7c6b5a4f3", UserID: "u-1"},
		SessionEnded{SessionID: "s-1", UserID: "u-1", ExpiresAt: at.Add(2 * time.Hour)},
		ServerConfigured{Issuer: "https://auth.example.com", Scopes: []Scope{{"read", "Read your data"}}, DefaultScopes: []string{"read"}, Lifetimes: ServerLifetimes{AccessToken: 3600, ClientCredentials: 3600, RefreshToken: 2592000, PersonalAccess: 31536000}},
		ListenerRetryRequested{Listener: "webhook-billing", Seq: 4711},
		AuthCodeIssued{CodeID: "k-1", CodeHash: "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", UserID: "u-1", RedirectURI: "https://app.example/cb", Scopes: []string{"read"}, ChallengeS256: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", ChallengeMethod: "S256", IssuedAt: at, ExpiresAt: at.Add(10 * time.Minute)},
		AuthCodeRedeemed{CodeID: "k-1", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", UserID: "u-1", AccessTokenID: "5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b", FamilyID: "f-1"},
		ClientAuthorized{UserID: "u-1", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", Scopes: []string{"read", "write"}},
		ClientAuthorizationRevoked{UserID: "u-1", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10"},
		DeviceCodeIssued{DeviceCodeID: "d-1", DeviceCodeHash: "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b", UserCodeHash: "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", Scopes: []string{"read"}, Interval: 5, IssuedAt: at, ExpiresAt: at.Add(10 * time.Minute)},
		DeviceCodeApproved{DeviceCodeID: "d-1", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", UserID: "u-1"},
		DeviceCodeDenied{DeviceCodeID: "d-1", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", UserID: "u-1"},
		DeviceCodeRedeemed{DeviceCodeID: "d-1", ClientID: "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", UserID: "u-1", AccessTokenID: "5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b", FamilyID: "f-1"},
		TokensPurged{PurgeID: "p-1", Before: at, Revoked: true, Expired: true},
		SigningKeyGenerated{KeyID: "kid-1", Algorithm: EdDSA, PublicKey: json.RawMessage(`{"use":"sig","kty":"OKP","kid":"kid-1","crv":"Ed25519","alg":"EdDSA","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`), CreatedAt: at},
		SigningKeyRetired{KeyID: "kid-1", RetiredAt: at, VerifyUntil: at.Add(time.Hour)},
		LogSigningKeyAnnounced{KeyID: "QUJDREVGR0hJSktM", PublicKey: "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg", AdoptedAt: 42},
		LogCheckpointed{From: 1, To: 10000, Digest: "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg", Refused: []uint64{17, 4711}, KeyID: "QUJDREVGR0hJSktM"},
	}, goldenChallengeEvents(at)...)
}

func goldenPath(e Event) string {
	return filepath.Join("testdata", "events", e.EventType()+".v"+itoa(e.EventVersion())+".json")
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestGoldenEvents(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	seen := map[string]bool{}
	for _, want := range goldenEvents() {
		seen[want.EventType()] = true
		path := goldenPath(want)
		// -update writes only missing files: a released version's golden
		// file never changes; a new meaning is a new version.
		if _, err := os.Stat(path); *update && os.IsNotExist(err) {
			env, err := NewEnvelope("evt-1", want, at, Actor{Kind: ActorCLI})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(env)
			if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("no golden file for %s v%d: %v (run go test ./domain -run TestGoldenEvents -update)", want.EventType(), want.EventVersion(), err)
		}
		var env Envelope
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, err := Decode(env)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s decodes differently (-want +got):\n%s", path, diff)
		}
		if got.AggregateOf().ID == "" {
			t.Errorf("%s: no aggregate id", path)
		}
	}
	for _, typ := range EventTypes() {
		if !seen[typ] {
			t.Errorf("event type %s has no golden sample", typ)
		}
	}
}

func TestDecodeVersions(t *testing.T) {
	env, _ := NewEnvelope("e", ClientDeleted{ClientID: "c1"}, time.Now(), Actor{Kind: ActorCLI})

	future := env
	future.Version = 2
	var fv *FutureVersionError
	if _, err := Decode(future); !errors.As(err, &fv) || fv.Known != 1 {
		t.Errorf("newer version: got %v; want *FutureVersionError", err)
	}
	unknown := env
	unknown.Type = "ClientRenamedInTheFuture"
	if _, err := Decode(unknown); !errors.Is(err, ErrUnknownEventType) {
		t.Errorf("unknown type: got %v; want ErrUnknownEventType", err)
	}
	zero := env
	zero.Version = 0
	if _, err := Decode(zero); err == nil {
		t.Errorf("version 0: got nil; want an error")
	}
	bad := env
	bad.Data = json.RawMessage(`{"client_id": 7}`)
	if _, err := Decode(bad); err == nil {
		t.Errorf("malformed data: got nil; want an error")
	}
}

// TestUpcastHook proves the upcasting path: an old version's data is
// passed through the upcaster chain before it is decoded.
func TestUpcastHook(t *testing.T) {
	// Pretend AccessTokenRevoked v1 is current and an older "v0" named the
	// field differently; decodeWith must run the upcaster from v0.
	env := Envelope{Type: "AccessTokenRevoked", Version: 1, Data: json.RawMessage(`{"token_id":"t1","reason":"x"}`)}
	calls := 0
	up := func(typ string, v int, data json.RawMessage) (json.RawMessage, error) {
		calls++
		return json.RawMessage(strings.Replace(string(data), `"why"`, `"reason"`, 1)), nil
	}
	if _, err := decodeWith(env, up); err != nil || calls != 0 {
		t.Fatalf("current version: got %v and %d upcaster calls; want none", err, calls)
	}
	// A version below current walks the chain: emulate with a type whose
	// current version is 1 by asking for "version 1 of 2" through a shim.
	old := Envelope{Type: "AccessTokenRevoked", Version: 1, Data: json.RawMessage(`{"token_id":"t1","why":"x"}`)}
	e, err := decodeWithCurrent(old, 2, up)
	if err != nil || calls != 1 {
		t.Fatalf("got %v and %d calls; want one upcaster call", err, calls)
	}
	if got := e.(AccessTokenRevoked).Reason; got != "x" {
		t.Errorf("got reason %q; want the upcast field", got)
	}
}

// decodeWithCurrent runs the upcast chain as if the current version of
// env's type were current, then decodes into the type.
func decodeWithCurrent(env Envelope, current int, up upcaster) (Event, error) {
	data := env.Data
	for v := env.Version; v < current; v++ {
		next, err := up(env.Type, v, data)
		if err != nil {
			return nil, err
		}
		data = next
	}
	env.Data, env.Version = data, 1
	return decodeWith(env, up)
}
