package projections

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/stamp-oauth/stamp/domain"
)

// Model names one read model of a Store. Its name is also its key prefix
// (followed by '/').
type Model string

// The models of a Store.
const (
	ModelClients         Model = "clients"
	ModelTokens          Model = "tokens"
	ModelKeys            Model = "keys"
	ModelRefreshFamilies Model = "refresh"
	ModelUsers           Model = "users"
	ModelCodes           Model = "codes"
	ModelAuthorizations  Model = "authorizations"
	ModelDevices         Model = "devices"
	// ModelSessions holds the web sessions ended before they expired
	// (sessions.go). Added after layout 2 without a new layout: a store
	// without its checkpoint starts it at 0, and the runner replays the
	// log into it while the other models skip what they hold.
	ModelSessions Model = "sessions"
)

// Models returns every model of a Store, in the order they apply an event.
func Models() []Model {
	out := make([]Model, numModels)
	for i := range out {
		out[i] = modelAt(i)
	}
	return out
}

// Indexes of the models in Store.cps.
const (
	idxClients = iota
	idxTokens
	idxKeys
	idxRefresh
	idxUsers
	idxCodes
	idxAuthorizations
	idxDevices
	idxSessions
	numModels
)

// index returns the position of m among the models, or false.
func (m Model) index() (int, bool) {
	switch m {
	case ModelClients:
		return idxClients, true
	case ModelTokens:
		return idxTokens, true
	case ModelKeys:
		return idxKeys, true
	case ModelRefreshFamilies:
		return idxRefresh, true
	case ModelUsers:
		return idxUsers, true
	case ModelCodes:
		return idxCodes, true
	case ModelAuthorizations:
		return idxAuthorizations, true
	case ModelDevices:
		return idxDevices, true
	case ModelSessions:
		return idxSessions, true
	}
	return 0, false
}

// modelAt is the inverse of index.
func modelAt(i int) Model {
	return [numModels]Model{
		ModelClients, ModelTokens, ModelKeys, ModelRefreshFamilies,
		ModelUsers, ModelCodes, ModelAuthorizations, ModelDevices,
		ModelSessions,
	}[i]
}

// The key layout; doc.go shows it whole. Ids are written as they are: every
// aggregate id is a domain.ValidID (no '/'), and listings check the record
// they find against the id they asked for, so even a stray id that holds a
// '/' cannot leak into another's listing.
const (
	keyLayout = "meta/layout"
	// layoutVersion 2 added the users, codes, authorizations and devices
	// models and the refresh families' token hash index; 3 keeps users'
	// email_key, and drops a deleted user's personal fields (crypto-
	// shredding: a rebuild cannot read them any more).
	layoutVersion = "3"

	prefixClientsID = "clients/id/"
	prefixKeysID    = "keys/id/"
	prefixUsersID   = "users/id/"

	prefixAuthorizationsID     = "authorizations/id/"
	prefixAuthorizationsByUser = "authorizations/by-user/"

	checkpointSuffix = "checkpoint"
)

// The unique indexes: each maps a value (a normalized email, the hash of a
// secret a client presents) to the id of the one record holding it.
const (
	usersByEmail      unique = "users/by-email/"
	codesByHash       unique = "codes/by-hash/"
	devicesByHash     unique = "devices/by-device-code-hash/"
	devicesByUserCode unique = "devices/by-user-code-hash/"
	familiesByHash    unique = "refresh/by-token-hash/"
	noUnique          unique = ""
)

// maxUniquePerRecord is the most unique indexes a record of one model is
// in (a device code: by device code hash and by user code hash).
const maxUniquePerRecord = 2

// prefixOf returns the key prefix of model i.
func prefixOf(i int) string { return string(modelAt(i)) + "/" }

func checkpointKey(i int) []byte { return []byte(prefixOf(i) + checkpointSuffix) }

func clientKey(id string) []byte      { return cat(prefixClientsID, id) }
func signingKeyKey(kid string) []byte { return cat(prefixKeysID, kid) }
func userKey(id string) []byte        { return cat(prefixUsersID, id) }

func authorizationKey(id string) []byte { return cat(prefixAuthorizationsID, id) }

// authorizationByUserKey is the entry of authorization id in the index of
// user's consents; the value is id.
func authorizationByUserKey(user, id string) []byte {
	return cat(prefixAuthorizationsByUser, user, "/", id)
}

// filed is a model whose records (access tokens, refresh families) are
// filed in four indexes, by client, user, expiry and revocation time, and
// dropped by purges; its value is the model's key prefix. A record is at
// prefix + "id/" + id; an index entry at prefix + index + owner + "/" + id,
// with the id as value. Times are written by timeKey, so key order is time
// order and a purge reads only what it drops.
type filed string

const (
	filedTokens   filed = "tokens/"
	filedFamilies filed = "refresh/"
)

// The indexes of a filed model.
const (
	byClient = iota
	byUser
	byExpiry
	byRevoked
	numIndexes
)

func (m filed) idPrefix() []byte       { return cat(string(m), "id/") }
func (m filed) idKey(id string) []byte { return cat(string(m), "id/", id) }
func (m filed) indexPrefix(i int) string {
	return string(m) + [numIndexes]string{"by-client/", "by-user/", "by-expiry/", "by-revoked/"}[i]
}

func (m filed) indexKey(i int, owner, id string) []byte {
	return cat(m.indexPrefix(i), owner, "/", id)
}

// ownedBy returns the prefix of the entries of owner in index i.
func (m filed) ownedBy(i int, owner string) []byte { return cat(m.indexPrefix(i), owner, "/") }

// hashes returns the unique index of the hashes of m's records (refresh
// families' token hashes), or noUnique.
func (m filed) hashes() unique {
	if m == filedFamilies {
		return familiesByHash
	}
	return noUnique
}

// filing is what a filed model needs to know of a record: its id, and what
// purges and the indexes look at. hashes are the values it holds in the
// model's unique index (m.hashes()).
type filing struct {
	id, client, user   string
	expires, revokedAt time.Time
	revoked            bool
	hashes             []string
}

func tokenFiling(t domain.AccessToken) filing {
	return filing{id: t.ID, client: t.ClientID, user: t.UserID, expires: t.ExpiresAt, revokedAt: t.RevokedAt, revoked: t.Revoked}
}

// familyFiling files a family under the hashes of its rotated tokens, in
// rotation order, then of its live one: rotation only appends, so the
// hashes of a family before an event are a prefix of those after it.
func familyFiling(f domain.RefreshFamily) filing {
	fl := filing{id: f.ID, client: f.ClientID, user: f.UserID, expires: f.ExpiresAt, revokedAt: f.RevokedAt, revoked: f.Revoked}
	if f.ID != "" {
		fl.hashes = familyHashes(f)
	}
	return fl
}

// familyHashes returns the hashes of f's rotated tokens and of its live
// one, in that order.
func familyHashes(f domain.RefreshFamily) []string {
	hs := make([]string, 0, len(f.Rotated)+1)
	for _, r := range f.Rotated {
		hs = append(hs, r.Hash)
	}
	return append(hs, f.TokenHash)
}

// expiring is a model of short-lived grants (authorization codes, device
// codes); its value is the model's key prefix. A record is at prefix +
// "id/" + id; it is found by the hashes of the secrets it was issued with,
// in the model's unique indexes, and filed by expiry, at prefix +
// "by-expiry/" + timeKey(expiry) + "/" + id with the id as value, so a
// purge reads only what it drops.
type expiring string

const (
	expiringCodes   expiring = "codes/"
	expiringDevices expiring = "devices/"
	// expiringSessions is the ended sessions model: no unique index, a
	// record is looked up by its session id.
	expiringSessions expiring = "sessions/"
)

func (m expiring) idPrefix() []byte       { return cat(string(m), "id/") }
func (m expiring) idKey(id string) []byte { return cat(string(m), "id/", id) }
func (m expiring) expiryPrefix() string   { return string(m) + "by-expiry/" }

func (m expiring) expiryKey(at time.Time, id string) []byte {
	return cat(m.expiryPrefix(), timeKey(at), "/", id)
}

// uniques returns the unique indexes of m's records, noUnique where there
// is none; a ticket's hashes are aligned with them.
func (m expiring) uniques() [maxUniquePerRecord]unique {
	switch m {
	case expiringDevices:
		return [maxUniquePerRecord]unique{devicesByHash, devicesByUserCode}
	case expiringSessions:
		return [maxUniquePerRecord]unique{noUnique, noUnique}
	}
	return [maxUniquePerRecord]unique{codesByHash, noUnique}
}

// ticket is what an expiring model needs to know of a record: its id, its
// expiry, and its value in each of the model's unique indexes ("" for
// none).
type ticket struct {
	id      string
	expires time.Time
	hashes  [maxUniquePerRecord]string
}

func codeTicket(c domain.AuthCode) ticket {
	return ticket{id: c.ID, expires: c.ExpiresAt, hashes: [maxUniquePerRecord]string{c.Hash}}
}

func deviceTicket(d domain.DeviceCode) ticket {
	return ticket{id: d.ID, expires: d.ExpiresAt, hashes: [maxUniquePerRecord]string{d.DeviceCodeHash, d.UserCodeHash}}
}

// owners returns the owner the record is filed under in each index, ""
// for none: a record without id is in no index, one without user or not
// revoked is not in those.
func (f filing) owners() [numIndexes]string {
	var o [numIndexes]string
	if f.id == "" {
		return o
	}
	o[byClient], o[byUser], o[byExpiry] = f.client, f.user, timeKey(f.expires)
	if f.revoked {
		o[byRevoked] = timeKey(f.revokedAt)
	}
	return o
}

// timeKey formats t in UTC with a fixed width, so that between the years 0
// and 9999 byte order is time order.
func timeKey(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// cat concatenates parts into one new key.
func cat(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// the exclusive upper bound of an iteration over p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

func encodeSeq(seq uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seq)
	return b[:]
}

func decodeSeq(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("projections: checkpoint of %d bytes, want 8", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}
