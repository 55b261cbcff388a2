package replication

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// drSecrets are the DR keys only an unsealed cluster uses: the DR CA's
// private key (issuing secondaries' certificates), the activation token
// signing key (wrapping) and generate-public-key's private half. They are
// stored encrypted by the barrier inside the DR state. The cluster port's
// own TLS key pair is not among them: a sealed node keeps streaming
// (ciphertext only) and needs it before any unseal.
type drSecrets struct {
	CAKey       string `json:"ca_key,omitempty"`
	WrappingKey string `json:"wrapping_key,omitempty"`
	ExchangeKey string `json:"exchange_key,omitempty"`
}

// stateOp is s.op() with the secrets sealed by the barrier when it is open;
// while sealed the last sealed copy is carried over unchanged (secrets only
// change through the API, which a sealed cluster does not serve).
func (m *Manager) stateOp(ctx context.Context, s *state) (storage.Op, error) {
	if m.opts.Keys == nil {
		s.legacyPlain = true // no barrier at all (unit tests): as before
		return s.op(m.kind.stateKey())
	}
	if m.secretsOpen.Load() {
		plain, err := json.Marshal(s.drSecrets)
		if err != nil {
			return storage.Op{}, fmt.Errorf("encode DR keys: %w", err)
		}
		ct, err := m.opts.Keys.Encrypt(ctx, plain, m.kind.secretsAAD())
		clear(plain)
		if err == nil {
			s.SealedSecrets, s.legacyPlain = ct, false
		}
	}
	return s.op(m.kind.stateKey())
}

func withPlainSecrets(raw []byte, sec drSecrets) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	extra, err := json.Marshal(sec)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(extra, &doc); err != nil {
		return nil, err
	}
	return json.Marshal(doc)
}

// Unsealed opens the DR keys with the barrier just unsealed. A state whose
// keys are still in plain text (written before the barrier) is rewritten
// with them sealed, and the file compacted so that no page keeps them.
func (m *Manager) Unsealed(ctx context.Context) error {
	if m.opts.Keys == nil {
		return nil
	}
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	if !cur.legacyPlain && len(cur.SealedSecrets) > 0 {
		plain, err := m.opts.Keys.Decrypt(ctx, cur.SealedSecrets, m.kind.secretsAAD())
		if err == nil {
			err = json.Unmarshal(plain, &cur.drSecrets)
			clear(plain)
		}
		if err != nil {
			// Sealed under the keyring this cluster had before it joined
			// its DR set: a secondary holds none it still needs.
			m.log.Warn("the DR state's keys do not open with this keyring; they are dropped", "error", err)
			cur.drSecrets = drSecrets{}
		}
	}
	m.mu.Lock()
	next := m.st.clone()
	next.drSecrets = cur.drSecrets
	m.st = next
	m.mu.Unlock()
	m.secretsOpen.Store(true)
	if !cur.legacyPlain {
		return nil
	}
	if err := m.commit(ctx, next.clone()); err != nil {
		return fmt.Errorf("seal the DR keys: %w", err)
	}
	return m.store.Compact(ctx)
}

// Sealed forgets the DR keys.
func (m *Manager) Sealed() {
	if m.opts.Keys == nil {
		return
	}
	m.secretsOpen.Store(false)
	m.mu.Lock()
	defer m.mu.Unlock()
	next := m.st.clone()
	next.drSecrets = drSecrets{}
	m.st = next
}
