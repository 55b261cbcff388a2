package seal

import (
	"context"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Keyholder is what gets the root key: the barrier, whose keyring the root
// key seals. Init asks it for the writes that store a new keyring, unseal
// hands it the reconstructed root key, seal makes it forget.
type Keyholder interface {
	Initialize(rootKey []byte) ([]storage.Op, error)
	Unseal(ctx context.Context, rootKey []byte) error
	Seal()
	// Rekey returns the writes that re-seal the keyring under a new root
	// key (committed with the new seal configuration) and what to call
	// once they are.
	Rekey(ctx context.Context, newRootKey []byte) ([]storage.Op, func(), error)
}

// SetKeyholder connects the barrier. Without one (unit tests of the seal
// alone) the root key only gates the API.
func (m *Manager) SetKeyholder(k Keyholder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = k
}
