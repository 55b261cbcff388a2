package replication

import (
	"context"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
)

// StateKey is where the DR state lives in the local keyspace. It is stored
// unencrypted: a sealed node reads it at start-up to keep its stream going
// (a stream carries only ciphertext, so that needs no key).
const StateKey = stateKey

// Keys is the barrier's root key as replication sees it: a primary puts it
// in the activation bundles it issues, a secondary adopts the one it is
// given so that it opens the replicated keyring (Vault's DR secondaries
// likewise take the primary's keys on activation).
type Keys interface {
	RootKey() []byte
	Adopt(rootKey []byte)
	Encrypt(ctx context.Context, plain, additional []byte) ([]byte, error)
	Decrypt(ctx context.Context, ct, additional []byte) ([]byte, error)
	// RoleChanged says the keyring may have been rotated underneath while
	// this cluster was a secondary: read it again before the next use.
	RoleChanged()
}

func (m *Manager) rootKey() []byte {
	if m.opts.Keys == nil {
		return nil
	}
	return m.opts.Keys.RootKey()
}

func (m *Manager) adoptRootKey(b *drcrypto.Bundle) {
	if m.opts.Keys != nil && len(b.RootKey) > 0 {
		m.opts.Keys.Adopt(b.RootKey)
	}
	clear(b.RootKey)
}
