package replication

import (
	"context"
	"fmt"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
)

// Public-key activation: the secondary makes a key pair and the primary
// encrypts the activation bundle to it, so enabling needs no call to the
// primary's API.

// GeneratePublicKey creates the key pair a primary can encrypt an
// activation bundle to, so enabling needs no call to the primary's API.
func (m *Manager) GeneratePublicKey(ctx context.Context) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	key, err := drcrypto.NewExchangeKey()
	if err != nil {
		return nil, fmt.Errorf("generate exchange key: %w", err)
	}
	priv, err := drcrypto.MarshalExchangeKey(key)
	if err != nil {
		return nil, err
	}
	next := m.snapshot()
	next.ExchangeKey = string(priv)
	if err := m.commit(ctx, next); err != nil {
		return nil, err
	}
	return &Result{Data: map[string]any{"secondary_public_key": drcrypto.PublicKeyString(key)}}, nil
}
