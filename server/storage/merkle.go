package storage

import (
	"crypto/sha1" //nolint:gosec // SHA-1 gives Vault's 40-hex merkle root format; it detects drift, it does not authenticate
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// NumBuckets is how many merkle buckets the keyspace hashes into. Two
// clusters compare bucket hashes, so a diff costs O(buckets that differ).
const NumBuckets = 4096

const hashSize = sha1.Size

// merkleIndex keeps one hash per bucket: the XOR of the hashes of the
// bucket's (key, value) entries. XOR lets a write update its bucket in O(1)
// (remove the old entry's hash, add the new one) without reading the bucket.
type merkleIndex struct {
	buckets [NumBuckets][hashSize]byte
	dirty   bool
	cached  string
}

func newMerkleIndex() *merkleIndex {
	return &merkleIndex{dirty: true}
}

func (m *merkleIndex) setBucket(bucket int, hash []byte) error {
	if bucket < 0 || bucket >= NumBuckets || len(hash) != hashSize {
		return fmt.Errorf("corrupt merkle bucket %d (%d bytes)", bucket, len(hash))
	}
	m.buckets[bucket] = [hashSize]byte(hash)
	m.dirty = true
	return nil
}

// root hashes the bucket hashes in order; it is cached until a commit
// changes a bucket.
func (m *merkleIndex) root() string {
	if !m.dirty {
		return m.cached
	}
	h := sha1.New() //nolint:gosec // see import
	for i := range m.buckets {
		h.Write(m.buckets[i][:])
	}
	m.cached = hex.EncodeToString(h.Sum(nil))
	m.dirty = false
	return m.cached
}

func bucketOf(key string) int {
	sum := sha1.Sum([]byte(key)) //nolint:gosec // see import
	return int(binary.BigEndian.Uint16(sum[:2])) % NumBuckets
}

// entryHash commits to both key and value; the length prefix keeps
// ("ab","c") and ("a","bc") apart.
func entryHash(key string, value []byte) []byte {
	h := sha1.New() //nolint:gosec // see import
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(key)))
	h.Write(n[:])
	h.Write([]byte(key))
	h.Write(value)
	return h.Sum(nil)
}

func xorInto(dst, src []byte) {
	for i := range dst {
		dst[i] ^= src[i]
	}
}
