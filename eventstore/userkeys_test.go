package eventstore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

func testSealer(t *testing.T) *domain.Sealer {
	t.Helper()
	key := make([]byte, domain.SealingKeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	s, err := domain.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bucketMessages returns every message the bucket's stream holds.
func bucketMessages(t *testing.T, st *Store) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := testContext(t)
	stream, err := st.js.Stream(ctx, "KV_"+UserKeysBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestUserKeys(t *testing.T) {
	ctx := testContext(t)
	st := openStore(t, startServer(t, ServerOptions{}))
	sealer := testSealer(t)
	keys, err := st.UserKeys(ctx, sealer)
	if err != nil {
		t.Fatal(err)
	}
	const ada, bob = "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a11"
	k1, err := keys.CreateUserKey(ctx, ada)
	if err != nil || len(k1) != domain.UserKeySize {
		t.Fatalf("create: got %d bytes, %v", len(k1), err)
	}
	if again, err := keys.CreateUserKey(ctx, ada); err != nil || !bytes.Equal(again, k1) {
		t.Errorf("creating a live key again: got a different key or %v; want the same key", err)
	}
	k2, err := keys.CreateUserKey(ctx, bob)
	if err != nil || bytes.Equal(k1, k2) {
		t.Fatalf("a second user's key: equal to the first or %v", err)
	}
	if got, err := keys.UserKey(ctx, ada); err != nil || !bytes.Equal(got, k1) {
		t.Errorf("get: got %x, %v; want the created key", got, err)
	}
	if _, err := keys.UserKey(ctx, "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a12"); !errors.Is(err, domain.ErrUserKeyMissing) {
		t.Errorf("a user without key: got %v; want ErrUserKeyMissing", err)
	}

	// The bucket holds sealed values only.
	held := 0
	for _, m := range bucketMessages(t, st) {
		if m.Subject == "$KV."+UserKeysBucket+"."+ada && len(m.Data) > 0 {
			held++
		}
		for _, k := range [][]byte{k1, k2} {
			if bytes.Contains(m.Data, k) || bytes.Contains(m.Data, []byte(base64.RawURLEncoding.EncodeToString(k))) {
				t.Errorf("the bucket message on %s holds a key in clear", m.Subject)
			}
		}
	}
	if held != 1 {
		t.Fatalf("the bucket holds %d values of the user; want 1", held)
	}
	other, err := st.UserKeys(ctx, testSealer(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.UserKey(ctx, ada); !errors.Is(err, domain.ErrUnseal) {
		t.Errorf("reading with another sealing key: got %v; want ErrUnseal", err)
	}

	if err := keys.DestroyUserKey(ctx, ada); err != nil {
		t.Fatal(err)
	}
	if err := keys.DestroyUserKey(ctx, ada); err != nil {
		t.Errorf("destroying again: %v; want nil", err)
	}
	if _, err := keys.UserKey(ctx, ada); !errors.Is(err, domain.ErrUserKeyErased) {
		t.Errorf("a destroyed key: got %v; want ErrUserKeyErased", err)
	}
	if got, err := keys.UserKey(ctx, bob); err != nil || !bytes.Equal(got, k2) {
		t.Errorf("another user's key after a destroy: got %x, %v", got, err)
	}
	// No revision of the destroyed key remains: ada's subject holds only
	// the purge marker, without data.
	for _, m := range bucketMessages(t, st) {
		if m.Subject == "$KV."+UserKeysBucket+"."+ada && len(m.Data) > 0 {
			t.Errorf("the destroyed key's subject still holds a value (seq %d)", m.Sequence)
		}
	}

	info, err := keys.kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.History() != 1 || info.BackingStore() != "JetStream" {
		t.Errorf("bucket: history %d, store %s; want history 1 on JetStream", info.History(), info.BackingStore())
	}
	js := info.(*jetstream.KeyValueBucketStatus).StreamInfo()
	if js.Config.Storage != jetstream.FileStorage || js.Config.Replicas != 1 {
		t.Errorf("bucket stream: storage %v, replicas %d; want file storage and the stream's 1", js.Config.Storage, js.Config.Replicas)
	}
}

// TestUserKeysClosed: a call against a closed store is an error that a
// reader retries, never an answer that the key is gone.
func TestUserKeysClosed(t *testing.T) {
	ctx := testContext(t)
	st, err := Open(ctx, Options{InProcess: startServer(t, ServerOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := st.UserKeys(ctx, testSealer(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	_, err = keys.UserKey(ctx, "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10")
	if err == nil || errors.Is(err, domain.ErrUserKeyMissing) || errors.Is(err, domain.ErrUserKeyErased) {
		t.Errorf("after Close: got %v; want a connection error, not an answer", err)
	}
	// A connection error is one the HTTP adapter answers 503 with
	// Retry-After, like every other NATS failure that passes.
	if !errors.Is(err, domain.ErrTemporarilyUnavailable) {
		t.Errorf("after Close: got %v; want it to match domain.ErrTemporarilyUnavailable", err)
	}
}

// BenchmarkUserKey measures reading a user's key, as a rebuild does once
// per registered user: a live key (one get), and a destroyed one (a get,
// then the key's history to tell erased from missing).
func BenchmarkUserKey(b *testing.B) {
	ctx := testContext(b)
	st := openStore(b, startServer(b, ServerOptions{}))
	key := make([]byte, domain.SealingKeySize)
	rand.Read(key)
	sealer, _ := domain.NewSealer(key)
	keys, err := st.UserKeys(ctx, sealer)
	if err != nil {
		b.Fatal(err)
	}
	const live, gone = "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a10", "0b9f6c1e-7f2a-4f5e-9a43-5c2d7e8f9a11"
	for _, id := range []string{live, gone} {
		if _, err := keys.CreateUserKey(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	if err := keys.DestroyUserKey(ctx, gone); err != nil {
		b.Fatal(err)
	}
	b.Run("live", func(b *testing.B) {
		for b.Loop() {
			if _, err := keys.UserKey(ctx, live); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("destroyed", func(b *testing.B) {
		for b.Loop() {
			if _, err := keys.UserKey(ctx, gone); !errors.Is(err, domain.ErrUserKeyErased) {
				b.Fatal(err)
			}
		}
	})
}
