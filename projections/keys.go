package projections

import (
	"encoding/binary"
	"fmt"
)

// Model names one read model of a Store. Its name is also its key prefix
// (followed by '/').
type Model string

// The models of a Store.
const (
	ModelClients Model = "clients"
	ModelTokens  Model = "tokens"
	ModelKeys    Model = "keys"
)

// Models returns every model of a Store, in the order they apply an event.
func Models() []Model { return []Model{ModelClients, ModelTokens, ModelKeys} }

// Indexes of the models in Store.checkpoints.
const (
	idxClients = iota
	idxTokens
	idxKeys
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
	}
	return 0, false
}

// modelAt is the inverse of index.
func modelAt(i int) Model { return Models()[i] }

// The key layout; doc.go shows it whole. Ids are written as they are: every
// aggregate id is a domain.ValidID (no '/'), and listings check the record
// they find against the id they asked for, so even a stray id that holds a
// '/' cannot leak into another's listing.
const (
	keyLayout     = "meta/layout"
	layoutVersion = "1"

	prefixClientsID    = "clients/id/"
	prefixTokens       = "tokens/"
	prefixTokensID     = "tokens/id/"
	prefixTokensClient = "tokens/by-client/"
	prefixTokensUser   = "tokens/by-user/"
	prefixKeysID       = "keys/id/"

	checkpointSuffix = "checkpoint"
)

// prefixOf returns the key prefix of model i.
func prefixOf(i int) string { return string(modelAt(i)) + "/" }

func checkpointKey(i int) []byte { return []byte(prefixOf(i) + checkpointSuffix) }

func clientKey(id string) []byte      { return cat(prefixClientsID, id) }
func tokenKey(jti string) []byte      { return cat(prefixTokensID, jti) }
func signingKeyKey(kid string) []byte { return cat(prefixKeysID, kid) }

func tokensByClientPrefix(clientID string) []byte { return cat(prefixTokensClient, clientID, "/") }
func tokensByUserPrefix(userID string) []byte     { return cat(prefixTokensUser, userID, "/") }

func tokenByClientKey(clientID, jti string) []byte {
	return cat(prefixTokensClient, clientID, "/", jti)
}

func tokenByUserKey(userID, jti string) []byte {
	return cat(prefixTokensUser, userID, "/", jti)
}

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
