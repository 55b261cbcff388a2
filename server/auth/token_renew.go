package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Renewal is what a successful Renew granted.
type Renewal struct {
	Token *Token
	// TTL is the lease just granted (the auth block's lease_duration).
	TTL time.Duration
	// Warnings say why TTL is shorter than asked, in Vault's words.
	Warnings []string
}

// Renew extends the token with this id as Vault's token store does: by
// increment, or else by the TTL granted last time, never past its creation
// time plus the smaller of the system max TTL and its explicit max TTL, and
// (for a child) never past its parent's expiry.
func (m *Manager) Renew(ctx context.Context, id string, increment time.Duration) (*Renewal, error) {
	if !validTokenID(id) {
		return nil, errTokenNotFound()
	}
	rn, err := m.renewHash(ctx, HashID(id), increment)
	if err != nil {
		return nil, err
	}
	rn.Token.ID = id
	return rn, nil
}

// RenewAccessor is Renew for the token with this accessor. The returned
// token has no id: the caller only knows the accessor.
func (m *Manager) RenewAccessor(ctx context.Context, accessor string, increment time.Duration) (*Renewal, error) {
	hash, err := m.accessorHash(ctx, accessor)
	if err != nil {
		return nil, err
	}
	return m.renewHash(ctx, hash, increment)
}

// errTokenNotFound is Vault's answer to renewing an unknown token.
func errTokenNotFound() error {
	return apierr.Invalid("token not found")
}

func (m *Manager) renewHash(ctx context.Context, hash string, increment time.Duration) (*Renewal, error) {
	if increment < 0 {
		return nil, apierr.Invalid("increment must not be negative")
	}
	m.tokenMu.Lock()
	defer m.tokenMu.Unlock()
	tok, err := m.readToken(ctx, hash)
	if err != nil {
		return nil, err
	}
	if tok == nil || m.expired(tok) {
		return nil, errTokenNotFound()
	}
	if tok.Type == TokenTypeBatch {
		return nil, apierr.Invalid("batch tokens cannot be renewed")
	}
	if tok.ExpireTime.IsZero() || !tok.Renewable {
		return nil, apierr.Invalid("lease is not renewable")
	}
	now := m.now().UTC().Truncate(time.Second)
	ttl, warnings, err := renewTTL(tok, increment, now)
	if err != nil {
		return nil, err
	}
	expire := now.Add(ttl)
	if !tok.Orphan && tok.Parent != "" {
		parent, err := m.readToken(ctx, tok.Parent)
		if err != nil {
			return nil, err
		}
		// A child dies with its parent (see Create); a renewal cannot
		// outlive it either.
		if parent != nil && !parent.ExpireTime.IsZero() && expire.After(parent.ExpireTime) {
			expire = parent.ExpireTime.UTC()
			ttl = expire.Sub(now)
			if ttl <= 0 {
				return nil, errTokenNotFound()
			}
		}
	}
	tok.ExpireTime, tok.LeaseTTL, tok.LastRenewal = expire, ttl, now
	raw, err := json.Marshal(tok)
	if err != nil {
		return nil, fmt.Errorf("encode token: %w", err)
	}
	if _, err := m.store.Write(ctx, storage.Op{Key: tokenPrefix + hash, Value: raw}); err != nil {
		return nil, fmt.Errorf("store renewed token: %w", err)
	}
	return &Renewal{Token: tok, TTL: ttl, Warnings: warnings}, nil
}

// renewTTL is Vault's framework.CalculateTTL for a token without a period:
// the increment, or else the TTL granted last, capped by what is left of the
// max TTL counted from the token's creation.
func renewTTL(tok *Token, increment time.Duration, now time.Time) (time.Duration, []string, error) {
	maxTTL := maxTokenTTL
	if tok.ExplicitMaxTTL > 0 && tok.ExplicitMaxTTL < maxTTL {
		maxTTL = tok.ExplicitMaxTTL
	}
	ttl := increment
	if ttl == 0 {
		ttl = tok.LeaseTTL
	}
	if ttl == 0 {
		ttl = tok.TTL
	}
	if ttl == 0 {
		ttl = defaultTokenTTL
	}
	left := tok.CreationTime.Truncate(time.Second).Add(maxTTL).Sub(now)
	if left <= 0 {
		return 0, nil, apierr.Invalid("past the max TTL, cannot renew")
	}
	var warnings []string
	if ttl > left {
		warnings = append(warnings, fmt.Sprintf("TTL of %q exceeded the effective max_ttl of %q; TTL value is capped accordingly",
			humanDuration(ttl), humanDuration(left)))
		ttl = left
	}
	return ttl, warnings, nil
}

// humanDuration prints a duration as Vault's warnings do ("1h", "1h30m").
func humanDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if i := strings.Index(s, "h0m"); i > 0 {
		s = s[:i+1] + s[i+3:]
	}
	return s
}
