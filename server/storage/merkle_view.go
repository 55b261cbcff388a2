package storage

import (
	"crypto/sha1" //nolint:gosec // see merkle.go
	"encoding/hex"
)

// BucketHash is the merkle hash a bucket holding exactly entries has: what
// a primary computes for a secondary that receives only part of its
// keyspace (a performance secondary's filtered view).
func BucketHash(entries []KV) []byte {
	out := make([]byte, hashSize)
	for _, kv := range entries {
		xorInto(out, entryHash(kv.Key, kv.Value))
	}
	return out
}

// MerkleRoot is the root over bucket hashes in order, computed as
// Position().MerkleRoot is.
func MerkleRoot(buckets [][]byte) string {
	h := sha1.New() //nolint:gosec // see merkle.go
	for _, b := range buckets {
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
