package projections

import "hash/maphash"

// writtenBits is the size of a writtenSet in bits: 8 MiB. At 5,000,000
// keys (a rebuild of about a million events) one lookup in 200 is a false
// positive; at 20,000,000 one in four. A false positive only costs the
// lookup the set saves, so the set's memory stays fixed however long the
// log is.
const writtenBits = 1 << 26

// writtenSet is a Bloom filter of the keys a Rebuild has committed: a key
// it does not hold is in no committed state, so loading it needs no
// lookup. It answers "maybe" for every key added, and for a few others.
// Not safe for concurrent use (the writer's holder owns it).
type writtenSet struct {
	bits []uint64
	seed maphash.Seed
}

func newWrittenSet() *writtenSet {
	return &writtenSet{bits: make([]uint64, writtenBits/64), seed: maphash.MakeSeed()}
}

// positions calls fn with the four bit positions of key (double hashing
// on the two halves of one 64-bit hash).
func (w *writtenSet) positions(key []byte, fn func(bit uint64) bool) bool {
	h := maphash.Bytes(w.seed, key)
	h1, h2 := h&0xffffffff, h>>32|1
	for i := range uint64(4) {
		if !fn((h1 + i*h2) % writtenBits) {
			return false
		}
	}
	return true
}

func (w *writtenSet) add(key []byte) {
	w.positions(key, func(bit uint64) bool {
		w.bits[bit/64] |= 1 << (bit % 64)
		return true
	})
}

// mayHold reports whether key may have been added; false is certain.
func (w *writtenSet) mayHold(key []byte) bool {
	return w.positions(key, func(bit uint64) bool { return w.bits[bit/64]&(1<<(bit%64)) != 0 })
}
