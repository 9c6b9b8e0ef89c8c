package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stamp-oauth/stamp/domain"
)

// epoch is the time of the first test event; event n happens n seconds
// later.
var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// history builds a log by hand: each event gets the next sequence, its
// aggregate's subject and a time one second after the previous one.
type history struct {
	tb   testing.TB
	recs []domain.Recorded
}

func newHistory(tb testing.TB) *history { return &history{tb: tb} }

func (h *history) next() (uint64, time.Time) {
	seq := uint64(len(h.recs) + 1)
	return seq, epoch.Add(time.Duration(seq) * time.Second)
}

// add appends e and returns its record.
func (h *history) add(e domain.Event) domain.Recorded {
	h.tb.Helper()
	seq, at := h.next()
	env, err := domain.NewEnvelope(fmt.Sprintf("evt-%d", seq), e, at, domain.Actor{Kind: domain.ActorSystem})
	if err != nil {
		h.tb.Fatal(err)
	}
	rec := domain.Recorded{Seq: seq, Subject: e.AggregateOf().Subject(e.EventType()), Envelope: env}
	h.recs = append(h.recs, rec)
	return rec
}

// addRaw appends an envelope of any type and version with data as given.
func (h *history) addRaw(subject, typ string, version int, data string) domain.Recorded {
	seq, at := h.next()
	rec := domain.Recorded{Seq: seq, Subject: subject, Envelope: domain.Envelope{
		ID: fmt.Sprintf("evt-%d", seq), Type: typ, Version: version, Time: at,
		Actor: domain.Actor{Kind: domain.ActorSystem}, Data: json.RawMessage(data),
	}}
	h.recs = append(h.recs, rec)
	return rec
}

// at returns the time of the event with sequence seq.
func at(seq uint64) time.Time { return epoch.Add(time.Duration(seq) * time.Second) }

func registered(id string) domain.ClientRegistered {
	return domain.ClientRegistered{
		ClientID: id, Name: "app " + id, SecretHash: "hash-" + id,
		Grants:       []string{domain.GrantClientCredentials, domain.GrantAuthorizationCode},
		RedirectURIs: []string{"https://" + id + ".example/cb"}, RegisteredAt: epoch,
	}
}

func created(jti, client, user string, issued time.Time) domain.AccessTokenCreated {
	return domain.AccessTokenCreated{
		TokenID: jti, ClientID: client, UserID: user, Scopes: []string{"read"},
		GrantType: domain.GrantAuthorizationCode, KeyID: "k1",
		IssuedAt: issued, ExpiresAt: issued.Add(time.Hour),
	}
}

func generated(kid string, createdAt time.Time) domain.SigningKeyGenerated {
	return domain.SigningKeyGenerated{
		KeyID: kid, Algorithm: "RS256", CreatedAt: createdAt,
		PublicKey: json.RawMessage(`{"kty": "RSA", "kid": "` + kid + `", "n": "AQAB", "e": "AQAB"}`),
	}
}

// randomHistory returns n events of every kind the models fold, and some of
// an unknown type, drawn from a fixed seed; purges (about one in a hundred)
// only if purges is set. Ids and emails of users come from small pools, so
// users are registered again, deleted, and share emails.
func randomHistory(tb testing.TB, n int, seed uint64, purges bool) []domain.Recorded {
	h := newHistory(tb)
	r := rand.New(rand.NewPCG(seed, seed))
	var clients, tokens, keys, families, codes, devices []string
	for len(h.recs) < n {
		_, now := h.next()
		switch k := r.IntN(100); {
		case k < 5 || len(clients) == 0:
			id := fmt.Sprintf("client-%d", len(clients))
			clients = append(clients, id)
			h.add(registered(id))
		case k < 8:
			c := clients[r.IntN(len(clients))]
			h.add(domain.ClientUpdated{ClientID: c, Name: fmt.Sprintf("renamed %d", len(h.recs)), Scopes: []string{"read"}})
		case k < 10:
			c := clients[r.IntN(len(clients))]
			h.add(domain.ClientSecretRegenerated{ClientID: c, SecretHash: fmt.Sprintf("h%d", len(h.recs))})
		case k < 11:
			h.add(domain.ClientDeleted{ClientID: clients[r.IntN(len(clients))]})
		case k < 12 || len(keys) == 0:
			kid := fmt.Sprintf("key-%d", len(keys))
			keys = append(keys, kid)
			h.add(generated(kid, now))
		case k < 13:
			h.add(domain.SigningKeyRetired{KeyID: keys[r.IntN(len(keys))], RetiredAt: now, VerifyUntil: now.Add(time.Hour)})
		case k < 14:
			h.addRaw("stamp.user.u1.UserInvented", "UserInvented", 1, `{"x":1}`)
		case k < 15 && purges:
			expired := r.IntN(3) > 0
			h.add(domain.TokensPurged{
				PurgeID: fmt.Sprintf("purge-%d", len(h.recs)), Before: now.Add(-time.Duration(r.IntN(300)) * time.Second),
				Expired: expired, Revoked: !expired || r.IntN(2) == 0,
			})
		case k < 18:
			c := clients[r.IntN(len(clients))]
			fam := fmt.Sprintf("fam-%d", len(families))
			if len(families) > 0 && r.IntN(2) == 0 {
				fam = families[r.IntN(len(families))] // a rotation
			} else {
				families = append(families, fam)
			}
			h.add(domain.RefreshTokenCreated{
				FamilyID: fam, RefreshTokenID: fmt.Sprintf("rt-%d", len(h.recs)), TokenHash: fmt.Sprintf("rh-%d", len(h.recs)),
				AccessTokenID: fmt.Sprintf("at-%d", len(h.recs)), ClientID: c, UserID: fmt.Sprintf("user-%d", r.IntN(50)),
				Scopes: []string{"read"}, IssuedAt: now, ExpiresAt: now.Add(time.Duration(300+r.IntN(900)) * time.Second),
			})
		case k < 19 && len(families) > 0:
			h.add(domain.RefreshTokenRevoked{FamilyID: families[r.IntN(len(families))], Reason: domain.ReasonRevokedByUser})
		case k < 20 && len(families) > 0:
			h.add(domain.RefreshTokenReuseDetected{FamilyID: families[r.IntN(len(families))]})
		case k < 30 && len(tokens) > 0:
			h.add(domain.AccessTokenRevoked{TokenID: tokens[r.IntN(len(tokens))], Reason: domain.ReasonRevokedByUser})
		case k < 32: // users and emails drawn from small pools: re-registrations, duplicates
			u := fmt.Sprintf("user-%d", r.IntN(50))
			h.add(domain.UserRegistered{
				UserID: u, Email: fmt.Sprintf(" User%d@Example.com", r.IntN(20)), Name: u,
				PasswordSealed: fmt.Sprintf("sealed-%d", len(h.recs)), RegisteredAt: now,
			})
		case k < 33:
			h.add(domain.UserPasswordChanged{UserID: fmt.Sprintf("user-%d", r.IntN(50)), PasswordSealed: fmt.Sprintf("sealed-%d", len(h.recs))})
		case k < 34:
			h.add(domain.UserDeleted{UserID: fmt.Sprintf("user-%d", r.IntN(50))})
		case k < 36:
			id := fmt.Sprintf("code-%d", len(codes))
			codes = append(codes, id)
			h.add(domain.AuthCodeIssued{
				CodeID: id, CodeHash: "ch-" + id, ClientID: clients[r.IntN(len(clients))], UserID: fmt.Sprintf("user-%d", r.IntN(50)),
				RedirectURI: "https://app.example/cb", Scopes: []string{"read"}, IssuedAt: now, ExpiresAt: now.Add(time.Duration(r.IntN(600)) * time.Second),
			})
		case k < 37 && len(codes) > 0:
			h.add(domain.AuthCodeRedeemed{CodeID: codes[r.IntN(len(codes))], AccessTokenID: fmt.Sprintf("at-%d", len(h.recs))})
		case k < 39:
			h.add(domain.ClientAuthorized{UserID: fmt.Sprintf("user-%d", r.IntN(50)), ClientID: clients[r.IntN(len(clients))], Scopes: []string{"read"}})
		case k < 40:
			h.add(domain.ClientAuthorizationRevoked{UserID: fmt.Sprintf("user-%d", r.IntN(50)), ClientID: clients[r.IntN(len(clients))]})
		case k < 42:
			id := fmt.Sprintf("device-%d", len(devices))
			devices = append(devices, id)
			h.add(domain.DeviceCodeIssued{
				DeviceCodeID: id, DeviceCodeHash: "dh-" + id, UserCodeHash: "uh-" + id, ClientID: clients[r.IntN(len(clients))],
				Scopes: []string{"read"}, Interval: 5, IssuedAt: now, ExpiresAt: now.Add(time.Duration(r.IntN(600)) * time.Second),
			})
		case k < 43 && len(devices) > 0:
			d, u := devices[r.IntN(len(devices))], fmt.Sprintf("user-%d", r.IntN(50))
			switch r.IntN(3) {
			case 0:
				h.add(domain.DeviceCodeApproved{DeviceCodeID: d, UserID: u})
			case 1:
				h.add(domain.DeviceCodeDenied{DeviceCodeID: d, UserID: u})
			default:
				h.add(domain.DeviceCodeRedeemed{DeviceCodeID: d, UserID: u, AccessTokenID: fmt.Sprintf("at-%d", len(h.recs))})
			}
		default:
			jti := fmt.Sprintf("tok-%d", len(tokens))
			tokens = append(tokens, jti)
			user := ""
			if r.IntN(3) > 0 {
				user = fmt.Sprintf("user-%d", r.IntN(50))
			}
			e := created(jti, clients[r.IntN(len(clients))], user, now)
			e.ExpiresAt = now.Add(time.Duration(60+r.IntN(900)) * time.Second)
			h.add(e)
		}
	}
	return h.recs
}

// openMem opens a store in dir on fs and closes it at the end of the test.
func openMem(tb testing.TB, fs vfs.FS, dir string) *Store {
	tb.Helper()
	s, err := Open(dir, Options{FS: fs})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			tb.Error(err)
		}
	})
	return s
}

func applyAll(tb testing.TB, s *Store, recs []domain.Recorded) {
	tb.Helper()
	for _, rec := range recs {
		if err := s.Apply(rec); err != nil {
			tb.Fatalf("apply seq %d (%s): %v", rec.Seq, rec.Envelope.Type, err)
		}
	}
}

func checksum(tb testing.TB, s *Store) string {
	tb.Helper()
	sum, err := s.Checksum()
	if err != nil {
		tb.Fatal(err)
	}
	return sum
}

// fakeLog is an in-memory event log: a Source and a Replayer. Sequences are
// positions in recs (seq n is recs[n-1]).
type fakeLog struct {
	mu      sync.Mutex
	recs    []domain.Recorded
	news    chan struct{} // closed and replaced on append
	follows []uint64      // the from of every Follow call
	filters []string      // the filter of every Replay call

	followOnce sync.Once
	following  chan struct{} // closed at the first Follow call
}

// followed returns the from of every Follow call so far.
func (l *fakeLog) followed() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]uint64(nil), l.follows...)
}

func newFakeLog(recs ...domain.Recorded) *fakeLog {
	return &fakeLog{recs: append([]domain.Recorded(nil), recs...), news: make(chan struct{}), following: make(chan struct{})}
}

// append adds recs to the log at once (a burst for a follower).
func (l *fakeLog) append(recs ...domain.Recorded) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, recs...)
	close(l.news)
	l.news = make(chan struct{})
}

// since returns the records from sequence from on, and the channel closed
// at the next append.
func (l *fakeLog) since(from uint64) ([]domain.Recorded, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from < 1 {
		from = 1
	}
	if from > uint64(len(l.recs)) {
		return nil, l.news
	}
	return l.recs[from-1:], l.news
}

func (l *fakeLog) Follow(ctx context.Context, from uint64, fn func(domain.Recorded) error) error {
	l.mu.Lock()
	l.follows = append(l.follows, from)
	l.mu.Unlock()
	l.followOnce.Do(func() { close(l.following) })
	next := from
	for {
		recs, news := l.since(next)
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				return err
			}
			next = rec.Seq + 1
		}
		if len(recs) > 0 {
			continue
		}
		select {
		case <-news:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (l *fakeLog) Replay(ctx context.Context, from uint64, filter string, fn func(domain.Recorded) error) error {
	l.mu.Lock()
	l.filters = append(l.filters, filter)
	l.mu.Unlock()
	recs, _ := l.since(from)
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

func (l *fakeLog) LastSeq(context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.recs)), nil
}
