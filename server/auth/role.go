package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

const rolePrefix = "auth/token/roles/"

// Role is a token role (auth/token/roles/:name).
type Role struct {
	Name                string        `json:"name"`
	AllowedPolicies     []string      `json:"allowed_policies,omitempty"`
	DisallowedPolicies  []string      `json:"disallowed_policies,omitempty"`
	Orphan              bool          `json:"orphan"`
	Renewable           bool          `json:"renewable"`
	TokenType           string        `json:"token_type"` // service, batch, default-service, default-batch
	TokenTTL            time.Duration `json:"token_ttl"`
	TokenExplicitMaxTTL time.Duration `json:"token_explicit_max_ttl"`
}

// validRoleName rejects names that cannot be one storage key segment.
func validRoleName(name string) error {
	if name == "" {
		return apierr.Invalid("role name is missing; give the role a name")
	}
	if len(name) > maxPolicyNameLen {
		return apierr.Invalid("role name is longer than %d characters; choose a shorter name", maxPolicyNameLen)
	}
	for _, r := range name {
		if r == '/' || r < 0x20 || r == 0x7f {
			return apierr.Invalid("role name %q contains %q; names cannot contain '/' or control characters", name, r)
		}
	}
	return nil
}

// PutRole validates and stores a role, normalising its policy lists and
// token type ("" becomes "default-service").
func (m *Manager) PutRole(ctx context.Context, r Role) error {
	if err := validRoleName(r.Name); err != nil {
		return err
	}
	switch r.TokenType {
	case "", "default":
		r.TokenType = "default-service"
	case TokenTypeService, TokenTypeBatch, "default-service", "default-batch":
	default:
		return apierr.Invalid("invalid token_type %q; allowed values are service, batch, default-service and default-batch", r.TokenType)
	}
	if r.TokenTTL < 0 || r.TokenExplicitMaxTTL < 0 {
		return apierr.Invalid("token_ttl and token_explicit_max_ttl must be positive")
	}
	if r.TokenType == TokenTypeBatch && r.TokenExplicitMaxTTL > 0 {
		return apierr.Invalid("role with batch token type cannot have an explicit max TTL; remove token_explicit_max_ttl")
	}
	r.AllowedPolicies = sanitizePolicies(r.AllowedPolicies, false)
	// Disallowed must not collapse to ["root"] the way a grant list does.
	disallowed := make([]string, 0, len(r.DisallowedPolicies))
	for _, p := range r.DisallowedPolicies {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			disallowed = append(disallowed, p)
		}
	}
	slices.Sort(disallowed)
	r.DisallowedPolicies = slices.Compact(disallowed)

	raw, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode role %q: %w", r.Name, err)
	}
	if _, err := m.store.Write(ctx, storage.Op{Key: rolePrefix + r.Name, Value: raw}); err != nil {
		return fmt.Errorf("store role %q: %w", r.Name, err)
	}
	return nil
}

// GetRole returns a role or apierr.NotFound.
func (m *Manager) GetRole(ctx context.Context, name string) (*Role, error) {
	if err := validRoleName(name); err != nil {
		return nil, err
	}
	raw, err := m.store.Get(ctx, rolePrefix+name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierr.NotFound("role %q not found; list roles with auth/token/roles", name)
	}
	if err != nil {
		return nil, fmt.Errorf("read role %q: %w", name, err)
	}
	var r Role
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("decode role %q: %w", name, err)
	}
	r.Name = name
	return &r, nil
}

// DeleteRole removes a role; deleting a missing role succeeds, as in Vault.
func (m *Manager) DeleteRole(ctx context.Context, name string) error {
	if err := validRoleName(name); err != nil {
		return err
	}
	if _, err := m.store.Write(ctx, storage.Op{Key: rolePrefix + name, Delete: true}); err != nil {
		return fmt.Errorf("delete role %q: %w", name, err)
	}
	return nil
}

// ListRoles returns role names sorted.
func (m *Manager) ListRoles(ctx context.Context) ([]string, error) {
	keys, err := m.store.List(ctx, rolePrefix)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !strings.HasSuffix(k, "/") {
			out = append(out, k)
		}
	}
	return out, nil
}
