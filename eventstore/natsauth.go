package eventstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/stamp-oauth/stamp/domain"
)

// NATS identities. The embedded server knows three nkey users, one per
// role, each with the least the role needs: nothing is allowed that an
// allow list does not name. An nkey user proves itself by signing the
// server's nonce with its seed, so no secret crosses the wire; the seeds
// live in files (mode 0600) that StartServer creates on the first start
// and reads back on every later one.

// Role names one NATS identity.
type Role string

// The identities of the embedded server.
const (
	// RoleWriter is stamp itself (serve and every CLI command): it appends
	// events, creates and updates the STAMP, STAMP_ARCHIVE and
	// STAMP_PARKED streams and stamp's key-value buckets, runs consumers
	// and the control messages. It cannot delete or purge STAMP,
	// STAMP_ARCHIVE or STAMP_PARKED, nor delete a message (only the
	// embedded server's archiver, an identity of no Role, purges STAMP).
	RoleWriter Role = "writer"
	// RoleReader reads the STAMP stream and its archive STAMP_ARCHIVE
	// (auditors, subscribers, the nats CLI): stream info, consumers,
	// direct and message get, and core
	// subscriptions on stamp.>. It cannot publish on stamp.>, change any
	// stream, delete a consumer, or touch a key-value bucket.
	RoleReader Role = "reader"
	// RoleRevocations is what a resource server's revocation feed needs
	// (OpenRevocationFeed): stream info, and consumers on STAMP filtered to
	// one revocation event type each (on STAMP_ARCHIVE: to the log-signing
	// announcement only).
	RoleRevocations Role = "revocations"
)

// Roles returns every role, writer first.
func Roles() []Role { return []Role{RoleWriter, RoleReader, RoleRevocations} }

// Inbox prefixes. The writer and the revocation feed receive their replies
// under prefixes of their own, so that a reader, which may subscribe to
// _INBOX.> (the default of every NATS client), cannot listen to what the
// server sends them (direct-get answers, consumer deliveries, key-value
// reads), and the revocation feed cannot listen to a reader's.
const (
	WriterInboxPrefix      = "_INBOX_STAMP"
	RevocationsInboxPrefix = "_INBOX_STAMP_REVOCATIONS"
	readerInboxPrefix      = "_INBOX"
)

// InboxPrefix returns the inbox prefix role's connections must use.
func (r Role) InboxPrefix() string {
	switch r {
	case RoleWriter:
		return WriterInboxPrefix
	case RoleRevocations:
		return RevocationsInboxPrefix
	}
	return readerInboxPrefix
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// SeedFileName returns the name of role's seed file in the keys directory:
// nats-<role>.nk.
func SeedFileName(r Role) string { return "nats-" + string(r) + ".nk" }

// KVBuckets are the key-value buckets the writer may use (each a stream
// KV_<bucket>). NATS subject permissions match whole tokens only, so
// "every bucket named STAMP_*" cannot be written as one rule: a new
// bucket must be added here (and to the README's nats-server snippet).
var KVBuckets = []string{"STAMP_USER_KEYS", "STAMP_LIMITS", "STAMP_DEVICE_POLL"}

// ObjectBuckets are the object store buckets the writer may use (each a
// stream OBJ_<bucket>, on subjects $O.<bucket>.>), added one by one for the
// same reason as KVBuckets.
var ObjectBuckets = []string{SnapshotBucket}

// ErrSeedFile is returned (wrapped) for a seed file that cannot be used:
// unreadable, not an nkey user seed, or readable by group or others.
var ErrSeedFile = errors.New("eventstore: unusable nkey seed file")

// EnsureSeeds returns the public keys of every role's seed file in dir,
// creating dir (0700) and any missing seed file (0600) first. A seed file
// that exists is read, never replaced; it must be a user seed and readable
// by its owner only (ErrSeedFile otherwise). It is safe to call while a
// server runs on dir.
func EnsureSeeds(dir string) (map[Role]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("eventstore: nats keys: %w", err)
	}
	pubs := map[Role]string{}
	for _, r := range Roles() {
		path := filepath.Join(dir, SeedFileName(r))
		pub, err := readSeed(path)
		if errors.Is(err, fs.ErrNotExist) {
			pub, err = createSeed(path)
		}
		if err != nil {
			return nil, err
		}
		pubs[r] = pub
	}
	return pubs, nil
}

// readSeed returns the public key of the user seed in path.
func readSeed(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrSeedFile, path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%w: %s is readable by others (mode %04o); chmod 600 it", ErrSeedFile, path, st.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrSeedFile, path, err)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(bytes.TrimSpace(b))
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrSeedFile, path, err)
	}
	defer kp.Wipe()
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrSeedFile, path, err)
	}
	return pub, nil
}

// createSeed writes a new user seed to path, unless another process has
// just done so (then it reads that one), and returns its public key.
func createSeed(path string) (string, error) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", fmt.Errorf("eventstore: nats keys: %w", err)
	}
	defer kp.Wipe()
	seed, err := kp.Seed()
	if err != nil {
		return "", fmt.Errorf("eventstore: nats keys: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("eventstore: nats keys: %w", err)
	}
	// Written beside, then linked into place: a reader never sees a
	// half-written seed, and a seed already there is kept.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".nats-seed-*")
	if err != nil {
		return "", fmt.Errorf("eventstore: nats keys: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(append(seed, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("eventstore: nats keys: %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); errors.Is(err, fs.ErrExist) {
		return readSeed(path)
	} else if err != nil {
		return "", fmt.Errorf("eventstore: nats keys: %s: %w", path, err)
	}
	return pub, nil
}

// Permissions is what one identity may publish and subscribe to. An
// identity may do only what an Allow list names, and never what a Deny
// list names (Deny wins).
type Permissions struct {
	PublishAllow, PublishDeny     []string
	SubscribeAllow, SubscribeDeny []string
	// Responses lets the identity answer requests it received (on their
	// reply subjects), one reply each, within a minute.
	Responses bool
}

// The responses a Permissions.Responses allows.
const (
	responsesMax     = 1
	responsesExpires = time.Minute
)

// jsAPI is the prefix of the JetStream API subjects (nats-server's
// server/jetstream_api.go).
const jsAPI = "$JS.API"

// ControlSubjectRoot is the root of the control subjects (see Serve): the
// writer may publish and subscribe under ControlSubjectRoot.>.
const ControlSubjectRoot = "stampctl"

// RolePermissions returns role's permissions; an unknown role may do
// nothing.
func RolePermissions(role Role) Permissions {
	stamp := domain.StreamName
	switch role {
	case RoleWriter:
		p := Permissions{
			PublishAllow: []string{
				domain.SubjectRoot + ".>",
				ParkedSubjectRoot + ".>",
				ControlSubjectRoot + ".>",
				jsAPI + ".INFO",
			},
			PublishDeny: []string{
				jsAPI + ".STREAM.DELETE.>",
				jsAPI + ".STREAM.MSG.DELETE.>",
				jsAPI + ".STREAM.PURGE." + stamp,
				jsAPI + ".STREAM.PURGE." + ParkedStreamName,
			},
			SubscribeAllow: []string{WriterInboxPrefix + ".>", ControlSubjectRoot + ".>"},
			Responses:      true,
		}
		streams := []string{stamp, ArchiveStreamName, ParkedStreamName}
		for _, b := range KVBuckets {
			streams = append(streams, "KV_"+b)
		}
		for _, b := range ObjectBuckets {
			streams = append(streams, "OBJ_"+b)
		}
		for _, s := range streams {
			p.PublishAllow = append(p.PublishAllow,
				jsAPI+".STREAM.CREATE."+s,
				jsAPI+".STREAM.UPDATE."+s,
				jsAPI+".STREAM.INFO."+s,
				jsAPI+".STREAM.MSG.GET."+s,
				jsAPI+".DIRECT.GET."+s,
				jsAPI+".DIRECT.GET."+s+".>",
				jsAPI+".CONSUMER.CREATE."+s,
				jsAPI+".CONSUMER.CREATE."+s+".>",
				jsAPI+".CONSUMER.DURABLE.CREATE."+s+".*",
				jsAPI+".CONSUMER.INFO."+s+".*",
				jsAPI+".CONSUMER.DELETE."+s+".*",
				jsAPI+".CONSUMER.NAMES."+s,
				jsAPI+".CONSUMER.LIST."+s,
				jsAPI+".CONSUMER.MSG.NEXT."+s+".*",
				"$JS.ACK."+s+".>",
			)
		}
		for _, b := range KVBuckets {
			// A key-value purge is a marker published on $KV.<bucket>.<key>;
			// removing old markers purges the bucket's stream by subject.
			p.PublishAllow = append(p.PublishAllow, "$KV."+b+".>", jsAPI+".STREAM.PURGE.KV_"+b)
		}
		for _, b := range ObjectBuckets {
			// Chunks and metadata are published on $O.<bucket>.>; replacing
			// or deleting an object purges its chunks by subject.
			p.PublishAllow = append(p.PublishAllow, "$O."+b+".>", jsAPI+".STREAM.PURGE.OBJ_"+b)
		}
		return p
	case RoleReader:
		p := Permissions{
			PublishAllow: []string{jsAPI + ".INFO"},
			PublishDeny: []string{
				domain.SubjectRoot + ".>",
				"$KV.>",
				jsAPI + ".STREAM.CREATE.>",
				jsAPI + ".STREAM.UPDATE.>",
				jsAPI + ".STREAM.DELETE.>",
				jsAPI + ".STREAM.PURGE.>",
				jsAPI + ".STREAM.MSG.DELETE.>",
				jsAPI + ".CONSUMER.DELETE.>",
			},
			// stamp.> live, as nats sub shows it: the reader may read
			// every event anyway.
			SubscribeAllow: []string{readerInboxPrefix + ".>", domain.SubjectRoot + ".>"},
			SubscribeDeny:  []string{"$KV.>"},
		}
		// The hot stream and its archive, read alike.
		for _, s := range []string{stamp, ArchiveStreamName} {
			p.PublishAllow = append(p.PublishAllow,
				jsAPI+".STREAM.INFO."+s,
				jsAPI+".STREAM.MSG.GET."+s,
				jsAPI+".DIRECT.GET."+s,
				jsAPI+".DIRECT.GET."+s+".>",
				jsAPI+".CONSUMER.CREATE."+s,
				jsAPI+".CONSUMER.CREATE."+s+".>",
				jsAPI+".CONSUMER.INFO."+s+".*",
				jsAPI+".CONSUMER.MSG.NEXT."+s+".*",
				"$JS.ACK."+s+".>",
				// Flow control of push consumers (the nats CLI's).
				"$JS.FC."+s+".>",
			)
		}
		return p
	case RoleRevocations:
		p := Permissions{
			PublishAllow: []string{jsAPI + ".STREAM.INFO." + stamp},
			PublishDeny: []string{
				domain.SubjectRoot + ".>",
				"$KV.>",
				jsAPI + ".STREAM.CREATE.>",
				jsAPI + ".STREAM.UPDATE.>",
				jsAPI + ".STREAM.DELETE.>",
				jsAPI + ".STREAM.PURGE.>",
				jsAPI + ".STREAM.MSG.DELETE.>",
				jsAPI + ".STREAM.MSG.GET.>",
				jsAPI + ".DIRECT.GET.>",
				jsAPI + ".CONSUMER.DELETE.>",
			},
			SubscribeAllow: []string{RevocationsInboxPrefix + ".>"},
			SubscribeDeny:  []string{domain.SubjectRoot + ".>", "$KV.>"},
		}
		// A consumer with one filter is created on a subject that ends
		// with the filter, which the server checks against the request:
		// the feed's consumers, one per revocation subject, and no other.
		for _, subject := range revocationSubjects {
			p.PublishAllow = append(p.PublishAllow, jsAPI+".CONSUMER.CREATE."+stamp+".*."+subject)
		}
		p.PublishAllow = append(p.PublishAllow,
			jsAPI+".CONSUMER.INFO."+stamp+".*",
			jsAPI+".CONSUMER.MSG.NEXT."+stamp+".*",
			// The log-signing announcement, once the hot stream has
			// dropped it, from the archive (and nothing else there).
			jsAPI+".STREAM.INFO."+ArchiveStreamName,
			jsAPI+".CONSUMER.CREATE."+ArchiveStreamName+".*."+announcementSubject,
			jsAPI+".CONSUMER.INFO."+ArchiveStreamName+".*",
			jsAPI+".CONSUMER.MSG.NEXT."+ArchiveStreamName+".*",
		)
		return p
	}
	return Permissions{PublishAllow: []string{}, SubscribeAllow: []string{}}
}

// server returns p as the server wants it.
func (p Permissions) server() *server.Permissions {
	sp := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: slices.Clone(p.PublishAllow), Deny: slices.Clone(p.PublishDeny)},
		Subscribe: &server.SubjectPermission{Allow: slices.Clone(p.SubscribeAllow), Deny: slices.Clone(p.SubscribeDeny)},
	}
	// An empty allow list would allow everything to the server: deny all.
	if len(sp.Publish.Allow) == 0 {
		sp.Publish.Deny = append(sp.Publish.Deny, ">")
	}
	if len(sp.Subscribe.Allow) == 0 {
		sp.Subscribe.Deny = append(sp.Subscribe.Deny, ">")
	}
	if p.Responses {
		sp.Response = &server.ResponsePermission{MaxMsgs: responsesMax, Expires: responsesExpires}
	}
	return sp
}

// nkeyUsers returns the server's users for the roles' public keys.
func nkeyUsers(pubs map[Role]string) []*server.NkeyUser {
	var users []*server.NkeyUser
	for _, r := range Roles() {
		users = append(users, &server.NkeyUser{Nkey: pubs[r], Permissions: RolePermissions(r).server()})
	}
	return users
}
