package domain

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// memKeys is a UserKeys in memory. failDestroy makes that many next
// DestroyUserKey calls fail.
type memKeys struct {
	mu          sync.Mutex
	keys        map[string][]byte
	destroyed   map[string]bool
	failDestroy int
}

func newMemKeys() *memKeys { return &memKeys{keys: map[string][]byte{}, destroyed: map[string]bool{}} }

func (k *memKeys) CreateUserKey(_ context.Context, userID string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := k.keys[userID]; ok {
		return key, nil
	}
	key := make([]byte, UserKeySize)
	rand.Read(key)
	k.keys[userID] = key
	delete(k.destroyed, userID)
	return key, nil
}

func (k *memKeys) UserKey(_ context.Context, userID string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := k.keys[userID]; ok {
		return key, nil
	}
	if k.destroyed[userID] {
		return nil, ErrUserKeyErased
	}
	return nil, ErrUserKeyMissing
}

func (k *memKeys) DestroyUserKey(_ context.Context, userID string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.failDestroy > 0 {
		k.failDestroy--
		return errors.New("key store unavailable")
	}
	delete(k.keys, userID)
	k.destroyed[userID] = true
	return nil
}

func testKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, UserKeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

func TestSealAndOpenField(t *testing.T) {
	key, other := testKey(t), testKey(t)
	sealed, err := SealField(key, "u-1", FieldEmail, "ada@example.com", rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := SealField(key, "u-1", FieldEmail, "ada@example.com", rand.Reader)
	if again == sealed {
		t.Errorf("two seals of one value are equal; want a fresh nonce each")
	}
	if strings.Contains(sealed, "ada") {
		t.Errorf("sealed %q shows the plaintext", sealed)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(sealed)
	raw[len(raw)-1] ^= 1
	tampered := base64.RawURLEncoding.EncodeToString(raw)
	tests := []struct {
		name         string
		key          []byte
		user, field  string
		sealed, want string
		err          bool
	}{
		{"same key, user and field", key, "u-1", FieldEmail, sealed, "ada@example.com", false},
		{"another key", other, "u-1", FieldEmail, sealed, "", true},
		{"another user", key, "u-2", FieldEmail, sealed, "", true},
		{"another field", key, "u-1", FieldName, sealed, "", true},
		{"tampered", key, "u-1", FieldEmail, tampered, "", true},
		{"not base64", key, "u-1", FieldEmail, "%%%", "", true},
		{"too short", key, "u-1", FieldEmail, "AAAA", "", true},
		{"short key", key[:16], "u-1", FieldEmail, sealed, "", true},
	}
	for _, tt := range tests {
		got, err := OpenField(tt.key, tt.user, tt.field, tt.sealed)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q, error %v", tt.name, got, err, tt.want, tt.err)
		}
	}
	if _, err := SealField(key[:31], "u-1", FieldEmail, "x", rand.Reader); err == nil {
		t.Errorf("sealing with a 31-byte key: got nil; want an error")
	}
}

func TestRevealUserRegistered(t *testing.T) {
	key := testKey(t)
	em, _ := SealField(key, "u-1", FieldEmail, "ada@example.com", rand.Reader)
	nm, _ := SealField(key, "u-1", FieldName, "Ada", rand.Reader)
	sealed := UserRegistered{UserID: "u-1", EmailSealed: em, NameSealed: nm, EmailKey: "k"}
	tests := []struct {
		name        string
		e           UserRegistered
		key         []byte
		email, user string
		err         bool
	}{
		{"sealed, right key", sealed, key, "ada@example.com", "Ada", false},
		{"sealed, wrong key", sealed, testKey(t), "", "", true},
		{"sealed, no key", sealed, nil, "", "", true},
		{"version 1 in clear", UserRegistered{UserID: "u-1", Email: "bob@example.com", Name: "Bob"}, nil, "bob@example.com", "Bob", false},
	}
	for _, tt := range tests {
		got, err := tt.e.Reveal(tt.key)
		if (err != nil) != tt.err || got.Email != tt.email || got.Name != tt.user {
			t.Errorf("%s: got %q %q, %v; want %q %q, error %v", tt.name, got.Email, got.Name, err, tt.email, tt.user, tt.err)
		}
	}
}

// TestUserRegisteredV1Upcast: a version 1 event, in clear, still decodes,
// its claim named by the legacy unkeyed hash.
func TestUserRegisteredV1Upcast(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "events", "UserRegistered.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	e, err := Decode(env)
	if err != nil {
		t.Fatal(err)
	}
	u := e.(UserRegistered)
	sum := sha256.Sum256([]byte("ada@example.com"))
	want := UserRegistered{UserID: "u-1", Email: "ada@example.com", Name: "Ada", EmailKey: hex.EncodeToString(sum[:]),
		PasswordSealed: "c2VhbGVkLWFyZ29uMmlkLWhhc2g", RegisteredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if u != want {
		t.Errorf("got %+v; want %+v", u, want)
	}
	if u.Sealed() {
		t.Errorf("a version 1 event reports sealed fields")
	}
	if got := RevealEnvelope(env, nil); !bytes.Equal(got.Data, env.Data) {
		t.Errorf("revealing a version 1 event changed it: %s", got.Data)
	}
	bad := env
	bad.Data = json.RawMessage(`{"user_id":"u-1","email":7}`)
	if _, err := Decode(bad); err == nil {
		t.Errorf("a malformed version 1 event: got nil; want an error")
	}
}

func TestEmailKeyIsKeyed(t *testing.T) {
	s1, _ := NewSealer(testKey(t))
	s2, _ := NewSealer(testKey(t))
	a := s1.EmailKey("Ada@Example.com ")
	if a != s1.EmailKey("ada@example.com") {
		t.Errorf("the key of one email differs by case or spaces")
	}
	if a == s2.EmailKey("ada@example.com") {
		t.Errorf("two sealing keys give one email key; want them to differ")
	}
	if a == LegacyEmailKey("ada@example.com") {
		t.Errorf("the email key is the unkeyed hash")
	}
	if !ValidID(a) {
		t.Errorf("email key %q cannot name an aggregate", a)
	}
}

func TestRevealEnvelope(t *testing.T) {
	key := testKey(t)
	em, _ := SealField(key, "u-1", FieldEmail, "ada@example.com", rand.Reader)
	nm, _ := SealField(key, "u-1", FieldName, "Ada", rand.Reader)
	env, err := NewEnvelope("e-1", UserRegistered{UserID: "u-1", EmailSealed: em, NameSealed: nm, EmailKey: "k"}, time.Now(), Actor{Kind: ActorCLI})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		key         []byte
		email, name string
	}{{key, "ada@example.com", "Ada"}, {nil, Erased, Erased}, {testKey(t), Erased, Erased}} {
		got := RevealEnvelope(env, tt.key)
		if DataField(got.Data, "email") != tt.email || DataField(got.Data, "name") != tt.name || DataField(got.Data, "email_sealed") != "" {
			t.Errorf("got %s; want email %q and name %q, no sealed fields", got.Data, tt.email, tt.name)
		}
		if DataField(got.Data, "email_key") != "k" || DataField(got.Data, "user_id") != "u-1" {
			t.Errorf("got %s; want the other fields kept", got.Data)
		}
	}
	recs := []Recorded{{Seq: 1, Envelope: env}}
	if ids := SealedUsers(recs); len(ids) != 1 || ids[0] != "u-1" {
		t.Errorf("SealedUsers: got %v; want [u-1]", ids)
	}
	w, _, err := FoldWorld(RevealRecords(recs, nil), time.Time{})
	if err != nil || w.Users["u-1"].Email != Erased {
		t.Errorf("an erased user folds to %+v, %v; want email %q", w.Users["u-1"], err, Erased)
	}
	if !bytes.Equal(recs[0].Envelope.Data, env.Data) {
		t.Errorf("RevealRecords changed its input")
	}
}

// TestUserPersonalDataInTheLog: registration seals the email and name
// under the user's key; no event shows them nor the email's plain hash;
// deletion destroys the key, after the delete, and deleting again retries
// a destroy that failed.
func TestUserPersonalDataInTheLog(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	u, err := h.svc.RegisterUser(ctx, Actor{Kind: ActorCLI}, "Grace@Example.com", "Grace Hopper", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "grace@example.com" || u.Name != "Grace Hopper" {
		t.Errorf("RegisterUser returned %+v; want the email and name in clear", u)
	}
	if got, err := h.svc.AuthenticateUser(ctx, "grace@example.com", "correct horse", "1.2.3.4"); err != nil || got.ID != u.ID {
		t.Errorf("login: got %+v, %v", got, err)
	}
	plainHash := LegacyEmailKey("grace@example.com")
	for _, r := range h.log.recs {
		text := r.Subject + string(r.Envelope.Data)
		for _, s := range []string{"grace@example.com", "Grace Hopper", "Grace", plainHash} {
			if strings.Contains(text, s) {
				t.Errorf("%s holds %q: %s", r.Subject, s, r.Envelope.Data)
			}
		}
	}
	if _, err := h.log.keys.UserKey(ctx, u.ID); err != nil {
		t.Fatalf("the user's key: %v", err)
	}

	h.log.keys.failDestroy = maxAttempts
	if err := h.svc.DeleteUser(ctx, Actor{Kind: ActorCLI}, u.ID); !errors.Is(err, ErrUserKeyNotDestroyed) {
		t.Fatalf("delete with the key store down: got %v; want ErrUserKeyNotDestroyed", err)
	}
	if _, err := h.log.keys.UserKey(ctx, u.ID); err != nil {
		t.Fatalf("the key after a failed destroy: %v; want it still there", err)
	}
	if got := h.log.world.Users[u.ID]; !got.Deleted {
		t.Fatalf("the user after a delete whose destroy failed: %+v; want deleted", got)
	}
	if err := h.svc.DeleteUser(ctx, Actor{Kind: ActorCLI}, u.ID); err != nil {
		t.Fatalf("deleting the deleted user again: %v; want the destroy retried", err)
	}
	if _, err := h.log.keys.UserKey(ctx, u.ID); !errors.Is(err, ErrUserKeyErased) {
		t.Errorf("the key after deletion: got %v; want ErrUserKeyErased", err)
	}
	if err := h.svc.DeleteUser(ctx, Actor{Kind: ActorCLI}, "no-such-user"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting an unknown user: got %v; want ErrNotFound", err)
	}

	// A replay without the key folds the user to what the live state is.
	keys := map[string][]byte{}
	for _, id := range SealedUsers(h.log.recs) {
		if k, err := h.log.keys.UserKey(ctx, id); err == nil {
			keys[id] = k
		}
	}
	w, history, err := FoldWorld(RevealRecords(h.log.recs, keys), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if got, live := w.Users[u.ID], h.log.world.Users[u.ID]; got != live || got.Email != "" || got.Name != "" {
		t.Errorf("replayed after erasure: %+v; live %+v; want equal, without personal fields", got, live)
	}
	for _, e := range history {
		if e.Type == "UserRegistered" && DataField(e.Data, "email") != Erased {
			t.Errorf("the history shows %s; want the email %q", e.Data, Erased)
		}
	}
	if _, err := h.svc.RegisterUser(ctx, Actor{Kind: ActorCLI}, "grace@example.com", "", "correct horse"); err != nil {
		t.Errorf("registering the email of a deleted user again: %v", err)
	}
}

// TestLegacyEmailClaims: an email held by a version 1 user (its claim
// under the unkeyed hash) stays taken until that user is deleted.
func TestLegacyEmailClaims(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, EdDSA)
	id := "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a11"
	reg := Envelope{ID: "e-1", Type: "UserRegistered", Version: 1, Time: h.clock.t, Actor: Actor{Kind: ActorCLI},
		Data: json.RawMessage(`{"user_id":"` + id + `","email":"old@example.com","name":"Old","password_sealed":"x","registered_at":"2026-01-02T03:04:05Z"}`)}
	claim, err := NewEnvelope("e-2", UserEmailClaimed{EmailKey: LegacyEmailKey("old@example.com"), UserID: id}, h.clock.t, Actor{Kind: ActorCLI})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.log.AppendAll(ctx, ExpectAny, Pending{Aggregate{KindEmail, LegacyEmailKey("old@example.com")}, claim}, Pending{Aggregate{KindUser, id}, reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RegisterUser(ctx, Actor{Kind: ActorCLI}, "OLD@example.com", "", "correct horse"); err == nil {
		t.Fatalf("registering a version 1 user's email: got nil; want taken")
	} else if v, ok := AsValidation(err); !ok || v.Field != "email" {
		t.Fatalf("registering a version 1 user's email: got %v; want a validation error on email", err)
	}
	if n := len(h.log.keys.keys); n != 0 {
		t.Errorf("a refused registration left %d keys; want none", n)
	}
	if err := h.svc.DeleteUser(ctx, Actor{Kind: ActorCLI}, id); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.RegisterUser(ctx, Actor{Kind: ActorCLI}, "old@example.com", "", "correct horse"); err != nil {
		t.Errorf("registering the email after its version 1 user was deleted: %v", err)
	}
}
