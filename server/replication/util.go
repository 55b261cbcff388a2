package replication

import (
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // page hashes only detect drift, like the merkle root
	"hash"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/randid"
)

func newHasher() hash.Hash { return sha1.New() } //nolint:gosec // see import

// newUUID returns a random UUID.
func newUUID() (string, error) { return randid.UUID(rand.Reader) }
