package projections

import (
	"encoding/binary"
	"fmt"
	"time"
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
	// (model_sessions.go). Added after layout 2 without a new layout: a store
	// without its checkpoint starts it at 0, and the runner replays the
	// log into it while the other models skip what they hold.
	ModelSessions Model = "sessions"
	// ModelEvents is the event index of the sharded kinds
	// (model_events.go), added as ModelSessions was.
	ModelEvents Model = "events"
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
	idxEvents
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
	case ModelEvents:
		return idxEvents, true
	}
	return 0, false
}

// modelAt is the inverse of index.
func modelAt(i int) Model {
	return [numModels]Model{
		ModelClients, ModelTokens, ModelKeys, ModelRefreshFamilies,
		ModelUsers, ModelCodes, ModelAuthorizations, ModelDevices,
		ModelSessions, ModelEvents,
	}[i]
}

// The key layout; doc.go shows it whole, and each model's file
// (model_<name>.go) declares its own. Ids are written as they are: every
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

	checkpointSuffix = "checkpoint"
)

// prefixOf returns the key prefix of model i.
func prefixOf(i int) string { return string(modelAt(i)) + "/" }

func checkpointKey(i int) []byte { return []byte(prefixOf(i) + checkpointSuffix) }

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
