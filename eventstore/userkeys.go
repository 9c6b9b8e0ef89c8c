package eventstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stamp-oauth/stamp/domain"
)

// UserKeysBucket is the JetStream key-value bucket that holds the users'
// personal-data keys, outside the log (see domain's personal.go).
const UserKeysBucket = "STAMP_USER_KEYS"

// UserKeys is the store of per-user keys in the UserKeysBucket: one entry
// per user id, history 1, on file storage with the stream's replicas.
// Each value is the key sealed under the sealing key (AES-256-GCM bound to
// the user id), so a reader of the bucket without the sealing key learns
// nothing. Destroying a key purges its entry: no older revision remains,
// only a purge marker that tells "erased" from "never had a key".
//
// It implements domain.UserKeys and is safe for concurrent use. It lives
// as long as the Store it was opened from.
type UserKeys struct {
	nc     *nats.Conn
	kv     jetstream.KeyValue
	sealer *domain.Sealer
}

var _ domain.UserKeys = (*UserKeys)(nil)

// UserKeys creates the UserKeysBucket, or updates its configuration, and
// returns the key store; sealer seals and opens the values. It fails when
// the bucket cannot be created (for instance without permission on it).
func (s *Store) UserKeys(ctx context.Context, sealer *domain.Sealer) (*UserKeys, error) {
	if sealer == nil {
		return nil, errors.New("eventstore: user keys: no sealing key")
	}
	replicas := DefaultReplicas
	if info := s.stream.CachedInfo(); info != nil && info.Config.Replicas > 0 {
		replicas = info.Config.Replicas
	}
	kv, err := startup(ctx, func(ctx context.Context) (jetstream.KeyValue, error) {
		return s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      UserKeysBucket,
			Description: "stamp: the keys of users' personal data, sealed; deleting a user purges its key",
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("eventstore: user keys: bucket %s: %w", UserKeysBucket, err)
	}
	return &UserKeys{nc: s.nc, kv: kv, sealer: sealer}, nil
}

func userKeyAAD(userID string) string { return "stamp/user-key/" + userID }

// CreateUserKey makes a random key for userID, stores it sealed and
// returns it; if userID has a live key already, it returns that key.
func (u *UserKeys) CreateUserKey(ctx context.Context, userID string) ([]byte, error) {
	if !domain.ValidID(userID) {
		return nil, fmt.Errorf("eventstore: user key: invalid user id %q", userID)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	key := make([]byte, domain.UserKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("eventstore: user key: read random: %w", err)
	}
	sealed, err := u.sealer.Seal(base64.RawURLEncoding.EncodeToString(key), userKeyAAD(userID), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("eventstore: user key: %w", err)
	}
	if _, err := u.kv.Create(ctx, userID, []byte(sealed)); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return u.UserKey(ctx, userID)
		}
		return nil, fmt.Errorf("eventstore: create user key %s: %w", userID, unavailable(err))
	}
	return key, nil
}

// UserKey returns userID's key. It returns an error wrapping
// domain.ErrUserKeyErased when the key was destroyed, one wrapping
// domain.ErrUserKeyMissing when the bucket never held it, one wrapping
// domain.ErrUnseal when the value does not open with the sealing key, and
// others (the server unreachable) that a caller may retry.
func (u *UserKeys) UserKey(ctx context.Context, userID string) ([]byte, error) {
	if !domain.ValidID(userID) {
		return nil, fmt.Errorf("eventstore: user key %q: %w", userID, domain.ErrUserKeyMissing)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var value []byte
	e, err := u.kv.Get(ctx, userID)
	switch {
	case err == nil:
		value = e.Value()
	case errors.Is(err, jetstream.ErrKeyNotFound):
		if value, err = u.latest(ctx, userID); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("eventstore: user key %s: %w", userID, unavailable(err))
	}
	plain, err := u.sealer.Open(string(value), userKeyAAD(userID))
	if err != nil {
		return nil, fmt.Errorf("eventstore: user key %s: %w", userID, err)
	}
	key, err := base64.RawURLEncoding.DecodeString(plain)
	if err != nil || len(key) != domain.UserKeySize {
		return nil, fmt.Errorf("eventstore: user key %s: %w", userID, domain.ErrUnseal)
	}
	return key, nil
}

// latest asks the bucket's stream leader for the last message of
// userID's key, after a Get found no value: a Get may be answered by a
// replica that lags (direct get), and it does not tell a purged key from
// one never written. The purge marker does.
func (u *UserKeys) latest(ctx context.Context, userID string) ([]byte, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": "$KV." + UserKeysBucket + "." + userID})
	msg, err := u.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+UserKeysBucket, req)
	if err != nil {
		return nil, fmt.Errorf("eventstore: user key %s: %w", userID, unavailable(err))
	}
	var resp struct {
		Message *struct {
			Header []byte `json:"hdrs"`
			Data   []byte `json:"data"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, fmt.Errorf("eventstore: user key %s: %w", userID, err)
	}
	switch {
	case resp.Error != nil && resp.Error.Code == 404:
		return nil, fmt.Errorf("eventstore: user key %s: %w", userID, domain.ErrUserKeyMissing)
	case resp.Error != nil:
		return nil, fmt.Errorf("eventstore: user key %s: %s (%d)", userID, resp.Error.Description, resp.Error.Code)
	case resp.Message == nil:
		return nil, fmt.Errorf("eventstore: user key %s: an empty answer", userID)
	}
	if h := resp.Message.Header; len(h) > 0 {
		hdr, err := nats.DecodeHeadersMsg(h)
		if err != nil {
			return nil, fmt.Errorf("eventstore: user key %s: %w", userID, err)
		}
		if op := hdr.Get("KV-Operation"); op == "DEL" || op == "PURGE" || hdr.Get(jetstream.MarkerReasonHeader) != "" {
			return nil, fmt.Errorf("eventstore: user key %s: %w", userID, domain.ErrUserKeyErased)
		}
	}
	return resp.Message.Data, nil
}

// DestroyUserKey purges userID's key: its value and every revision are
// gone from the bucket, a purge marker remains. Destroying a destroyed or
// absent key succeeds.
func (u *UserKeys) DestroyUserKey(ctx context.Context, userID string) error {
	if !domain.ValidID(userID) {
		return fmt.Errorf("eventstore: destroy user key: invalid user id %q", userID)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if err := u.kv.Purge(ctx, userID); err != nil {
		return fmt.Errorf("eventstore: destroy user key %s: %w", userID, unavailable(err))
	}
	return nil
}
