package replication

import (
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // page hashes only detect drift, like the merkle root
	"fmt"
	"hash"
)

func newHasher() hash.Hash { return sha1.New() } //nolint:gosec // see import

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
