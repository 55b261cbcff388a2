package replication

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Response-wrapped activation tokens: the primary keeps each bundle until
// it is unwrapped once (sys/wrapping/unwrap) or expires.

// wrappedEntry is a response-wrapped activation bundle, kept on the primary
// until it is unwrapped once or expires.
type wrappedEntry struct {
	Bundle    drcrypto.Bundle `json:"bundle"`
	CreatedAt int64           `json:"created_at"`
	TTL       int64           `json:"ttl"`
	Path      string          `json:"path"`
}

func (m *Manager) wrappingKey(jti string) string {
	sum := sha256.Sum256([]byte(jti))
	return m.kind.wrappingPrefix() + hex.EncodeToString(sum[:])
}

var errWrapping = apierr.Invalid("wrapping token is not valid or does not exist")

// lookupWrapped verifies a wrapping token and returns its entry.
func (m *Manager) lookupWrapped(ctx context.Context, token string) (string, *wrappedEntry, error) {
	cur := m.snapshot()
	if cur.WrappingKey == "" || !drcrypto.LooksLikeJWT(token) {
		return "", nil, errWrapping
	}
	key, err := drcrypto.UnmarshalKey([]byte(cur.WrappingKey))
	if err != nil {
		return "", nil, fmt.Errorf("load wrapping key: %w", err)
	}
	claims, err := drcrypto.VerifyJWT(&key.PublicKey, token, m.now())
	if err != nil {
		return "", nil, errWrapping
	}
	raw, err := m.data.LocalGet(ctx, m.wrappingKey(claims.JTI))
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil, errWrapping
	}
	if err != nil {
		return "", nil, fmt.Errorf("read wrapped response: %w", err)
	}
	var entry wrappedEntry
	if err := json.Unmarshal(raw, &entry); err != nil {
		return "", nil, fmt.Errorf("decode wrapped response: %w", err)
	}
	return claims.JTI, &entry, nil
}

// Unwrap hands out a wrapped activation bundle once.
func (m *Manager) Unwrap(ctx context.Context, token string) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	jti, entry, err := m.lookupWrapped(ctx, token)
	if err != nil {
		return nil, err
	}
	if _, err := m.data.Write(ctx, storage.Op{Local: true, Key: m.wrappingKey(jti), Delete: true}); err != nil {
		return nil, fmt.Errorf("consume wrapped response: %w", err)
	}
	var data map[string]any
	raw, _ := json.Marshal(entry.Bundle)
	_ = json.Unmarshal(raw, &data)
	m.log.Info("activation token unwrapped", "secondary_id", entry.Bundle.SecondaryID)
	return &Result{Data: data}, nil
}

// WrapLookup describes a wrapping token without consuming it.
func (m *Manager) WrapLookup(ctx context.Context, token string) (*Result, error) {
	_, entry, err := m.lookupWrapped(ctx, token)
	if err != nil {
		return nil, err
	}
	return &Result{Data: map[string]any{
		"creation_path": entry.Path,
		"creation_time": time.Unix(entry.CreatedAt, 0).UTC().Format(time.RFC3339),
		"creation_ttl":  entry.TTL,
	}}, nil
}
