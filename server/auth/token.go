package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// TokenKeyPrefixes are the keys of tokens themselves (not roles or
// policies): what a performance secondary keeps to itself, as each Vault
// cluster of a performance set has its own tokens.
func TokenKeyPrefixes() []string { return []string{tokenPrefix, accessorPrefix, parentPrefix} }

const (
	tokenPrefix    = "auth/token/id/"
	accessorPrefix = "auth/token/accessor/"
	parentPrefix   = "auth/token/parent/"

	// TokenTypeService and TokenTypeBatch are the token types Vault knows.
	TokenTypeService = "service"
	TokenTypeBatch   = "batch"

	serviceIDPrefix = "hvs."
	batchIDPrefix   = "hvb."
	randomIDLen     = 24
	accessorLen     = 24

	// defaultTokenTTL and maxTokenTTL are Vault's system default and max
	// lease TTLs (32 days), which apply to the token store mount.
	defaultTokenTTL = 768 * time.Hour
	maxTokenTTL     = 768 * time.Hour

	// maxTokenIDLen rejects absurd ids before hashing or storing them.
	maxTokenIDLen = 1024

	// maxRevokeDepth bounds recursion over a token tree, which a corrupt or
	// hostile keyspace could otherwise make unbounded.
	maxRevokeDepth = 1000
)

// Token is a stored token. The id itself is never stored, only its hash.
type Token struct {
	// ID is the token's secret. It is set by Create/CreateRoot and, since
	// the caller supplied it, by Lookup; it is never stored.
	ID             string            `json:"-"`
	Accessor       string            `json:"accessor,omitempty"`
	Policies       []string          `json:"policies"`
	Type           string            `json:"type"`
	Parent         string            `json:"parent,omitempty"` // HashID of the parent id; "" for orphans
	Orphan         bool              `json:"orphan"`
	Renewable      bool              `json:"renewable"`
	DisplayName    string            `json:"display_name"`
	Path           string            `json:"path"`
	CreationTime   time.Time         `json:"creation_time"`
	TTL            time.Duration     `json:"ttl"`
	ExplicitMaxTTL time.Duration     `json:"explicit_max_ttl,omitempty"`
	ExpireTime     time.Time         `json:"expire_time"` // zero = never expires
	Role           string            `json:"role,omitempty"`
	Meta           map[string]string `json:"meta,omitempty"`
	// LastRenewal and LeaseTTL are set by Renew: when, and the TTL it
	// granted, which the next renewal without an increment grants again.
	LastRenewal time.Time     `json:"last_renewal,omitzero"`
	LeaseTTL    time.Duration `json:"lease_ttl,omitempty"`
}

// CreateRequest carries the parameters of auth/token/create[-orphan|/:role].
type CreateRequest struct {
	Policies        []string
	TTL             time.Duration
	ExplicitMaxTTL  time.Duration
	Type            string
	NoParent        bool
	NoDefaultPolicy bool
	Renewable       *bool // nil = default (true for service tokens)
	DisplayName     string
	Role            string
	Orphan          bool   // the create-orphan path
	ID              string // explicit id; root or sudo only
	Meta            map[string]string
}

func hasPolicy(policies []string, name string) bool {
	return slices.Contains(policies, name)
}

// sanitizePolicies does what Vault's policyutil.SanitizePolicies does:
// lower-case, trim, drop empties, collapse to ["root"] if root is present,
// optionally add "default", then dedupe and sort.
func sanitizePolicies(in []string, addDefault bool) []string {
	out := make([]string, 0, len(in)+1)
	for _, p := range in {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if p == rootPolicy {
			return []string{rootPolicy}
		}
		out = append(out, p)
	}
	if addDefault && !slices.Contains(out, defaultPolicyName) {
		out = append(out, defaultPolicyName)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// validTokenID rejects ids that cannot be real tokens, so that garbage is
// refused before it reaches storage.
func validTokenID(id string) bool {
	if id == "" || len(id) > maxTokenIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// sanitizeDisplayName follows Vault: "token-" + name with every character
// outside [a-zA-Z0-9-] replaced by "-", without a trailing "-".
func sanitizeDisplayName(name string) string {
	if name == "" {
		return "token"
	}
	b := []byte("token-" + name)
	for i, c := range b {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && c != '-' {
			b[i] = '-'
		}
	}
	return strings.TrimSuffix(string(b), "-")
}

// CreateRoot stores a new root token (policy "root", never expires, orphan).
// An empty id gets a random one.
func (m *Manager) CreateRoot(ctx context.Context, id string) (*Token, error) {
	if id != "" && !validTokenID(id) {
		return nil, apierr.Invalid("root token id is malformed; use printable characters without spaces, at most %d bytes", maxTokenIDLen)
	}
	accessor, err := m.randomBase62(accessorLen)
	if err != nil {
		return nil, err
	}
	if id == "" {
		if id, err = m.newID(TokenTypeService); err != nil {
			return nil, err
		}
	} else if err := m.ensureUnused(ctx, id); err != nil {
		return nil, err
	}
	tok := &Token{
		ID:           id,
		Accessor:     accessor,
		Policies:     []string{rootPolicy},
		Type:         TokenTypeService,
		Orphan:       true,
		DisplayName:  "root",
		Path:         "auth/token/root",
		CreationTime: m.now().UTC().Truncate(time.Second),
	}
	if err := m.storeNew(ctx, tok); err != nil {
		return nil, err
	}
	return tok, nil
}

func (m *Manager) newID(tokenType string) (string, error) {
	r, err := m.randomBase62(randomIDLen)
	if err != nil {
		return "", err
	}
	if tokenType == TokenTypeBatch {
		return batchIDPrefix + r, nil
	}
	return serviceIDPrefix + r, nil
}

func (m *Manager) ensureUnused(ctx context.Context, id string) error {
	_, err := m.store.Get(ctx, tokenPrefix+HashID(id))
	switch {
	case err == nil:
		return apierr.Invalid("cannot create a token with a duplicate ID; choose another id or omit it")
	case errors.Is(err, storage.ErrNotFound):
		return nil
	default:
		return fmt.Errorf("check token id: %w", err)
	}
}

// storeNew writes a token with its accessor and parent index in one commit.
func (m *Manager) storeNew(ctx context.Context, tok *Token) error {
	raw, err := json.Marshal(tok)
	if err != nil {
		return fmt.Errorf("encode token: %w", err)
	}
	hash := HashID(tok.ID)
	ops := []storage.Op{{Key: tokenPrefix + hash, Value: raw}}
	if tok.Accessor != "" {
		ops = append(ops, storage.Op{Key: accessorPrefix + tok.Accessor, Value: []byte(hash)})
	}
	if tok.Parent != "" {
		ops = append(ops, storage.Op{Key: parentPrefix + tok.Parent + "/" + hash, Value: []byte{}})
	}
	if _, err := m.store.Write(ctx, ops...); err != nil {
		return fmt.Errorf("store token: %w", err)
	}
	return nil
}

// Create makes a child token of parent following Vault's token store rules.
// parentIsSudo tells whether parent has sudo on the create path.
func (m *Manager) Create(ctx context.Context, parent *Token, parentIsSudo bool, req CreateRequest) (*Token, error) {
	if parent == nil {
		return nil, apierr.PermissionDenied("permission denied")
	}
	if parent.ID == "" {
		return nil, fmt.Errorf("create token: parent token has no id; pass the token returned by Lookup")
	}
	if parent.Type == TokenTypeBatch {
		return nil, apierr.Invalid("batch tokens cannot create more tokens")
	}
	parentRoot := hasPolicy(parent.Policies, rootPolicy)
	sudo := parentIsSudo || parentRoot

	var role *Role
	if req.Role != "" {
		r, err := m.GetRole(ctx, req.Role)
		if apierr.KindOf(err) == apierr.KindNotFound {
			return nil, apierr.Invalid("unknown role %q; create it at auth/token/roles/%s first", req.Role, req.Role)
		}
		if err != nil {
			return nil, err
		}
		role = r
	}

	tokenType := req.Type
	if role != nil {
		switch role.TokenType {
		case "", "default-service", "default":
		case "default-batch":
			if tokenType == "" {
				tokenType = TokenTypeBatch
			}
		case TokenTypeService, TokenTypeBatch:
			tokenType = role.TokenType
		default:
			return nil, apierr.Invalid("role %q has invalid token type %q; fix the role's token_type", role.Name, role.TokenType)
		}
	}

	renewable := req.Renewable == nil || *req.Renewable
	switch tokenType {
	case "", TokenTypeService:
		tokenType = TokenTypeService
	case TokenTypeBatch:
		if req.ExplicitMaxTTL != 0 {
			return nil, apierr.Invalid(`batch tokens cannot have "explicit_max_ttl" set`)
		}
		renewable = false
	default:
		return nil, apierr.Invalid("invalid token type %q; allowed values are %q and %q", tokenType, TokenTypeService, TokenTypeBatch)
	}
	if role != nil && !role.Renewable {
		renewable = false
	}

	if req.ID != "" {
		if !sudo {
			return nil, apierr.Invalid("custom token IDs need a root token or sudo on the create path; omit id to get a generated one")
		}
		if !validTokenID(req.ID) {
			return nil, apierr.Invalid("token id is malformed; use printable characters without spaces, at most %d bytes", maxTokenIDLen)
		}
	}

	policies, err := childPolicies(parent, sudo, role, req)
	if err != nil {
		return nil, err
	}
	if hasPolicy(policies, rootPolicy) {
		if !parentRoot {
			return nil, apierr.Invalid("root tokens may not be created without parent token being root")
		}
		if tokenType == TokenTypeBatch {
			return nil, apierr.Invalid("batch tokens cannot be root tokens")
		}
	}

	orphan := false
	switch {
	case req.Orphan:
		orphan = true
	case role != nil:
		// As in Vault, a role decides orphan-ness; no_parent does not apply.
		orphan = role.Orphan
	case req.NoParent:
		if !sudo {
			return nil, apierr.Invalid("root or sudo privileges required to create orphan token; use auth/token/create-orphan instead")
		}
		orphan = true
	}

	now := m.now().UTC().Truncate(time.Second)
	if req.TTL < 0 || req.ExplicitMaxTTL < 0 {
		return nil, apierr.Invalid("ttl and explicit_max_ttl must be positive")
	}
	explicitMax := req.ExplicitMaxTTL
	ttl := req.TTL
	if role != nil && tokenType != TokenTypeBatch {
		if role.TokenExplicitMaxTTL > 0 && (explicitMax == 0 || role.TokenExplicitMaxTTL < explicitMax) {
			explicitMax = role.TokenExplicitMaxTTL
		}
	}
	if role != nil && ttl == 0 {
		ttl = role.TokenTTL
	}
	isRoot := hasPolicy(policies, rootPolicy)
	// Root tokens without a TTL never expire; everything else gets the
	// mount default and is capped by the mount max and explicit max.
	if ttl > 0 || !isRoot {
		if ttl == 0 {
			ttl = defaultTokenTTL
		}
		limit := maxTokenTTL
		if explicitMax > 0 && explicitMax < limit {
			limit = explicitMax
		}
		ttl = min(ttl, limit)
	}
	if ttl == 0 && explicitMax > 0 {
		ttl = explicitMax
	}
	var expire time.Time
	if ttl == 0 {
		if !parent.ExpireTime.IsZero() {
			return nil, apierr.Invalid("expiring root tokens cannot create non-expiring root tokens; set a ttl")
		}
		// Vault does not advertise never-expiring tokens as renewable.
		renewable = false
	} else {
		expire = now.Add(ttl)
	}
	// A child dies with its parent in Vault (revocation on expiry), so its
	// expiry cannot be later than the parent's.
	if !orphan && !parent.ExpireTime.IsZero() && expire.After(parent.ExpireTime) {
		expire = parent.ExpireTime.UTC()
		ttl = expire.Sub(now)
		if ttl <= 0 {
			return nil, apierr.PermissionDenied("permission denied")
		}
	}

	id := req.ID
	if id == "" {
		if id, err = m.newID(tokenType); err != nil {
			return nil, err
		}
	} else if err := m.ensureUnused(ctx, id); err != nil {
		return nil, err
	}
	var accessor string
	if tokenType == TokenTypeService {
		if accessor, err = m.randomBase62(accessorLen); err != nil {
			return nil, err
		}
	}

	path := "auth/token/create"
	switch {
	case role != nil:
		path = "auth/token/create/" + role.Name
	case req.Orphan:
		path = "auth/token/create-orphan"
	}

	tok := &Token{
		ID:             id,
		Accessor:       accessor,
		Policies:       policies,
		Type:           tokenType,
		Orphan:         orphan,
		Renewable:      renewable,
		DisplayName:    sanitizeDisplayName(req.DisplayName),
		Path:           path,
		CreationTime:   now,
		TTL:            ttl,
		ExplicitMaxTTL: explicitMax,
		ExpireTime:     expire,
		Meta:           maps.Clone(req.Meta),
	}
	if !orphan {
		tok.Parent = HashID(parent.ID)
	}
	if role != nil {
		tok.Role = role.Name
	}
	if err := m.storeNew(ctx, tok); err != nil {
		return nil, err
	}
	return tok, nil
}

// childPolicies computes a child token's policies exactly as Vault's
// handleCreateCommon does, including when "default" is added.
func childPolicies(parent *Token, sudo bool, role *Role, req CreateRequest) ([]string, error) {
	requested := slices.Clone(req.Policies)
	addDefault := false
	var policies []string
	switch {
	case role != nil && (len(role.AllowedPolicies) > 0 || len(role.DisallowedPolicies) > 0):
		// Roles with allowed/disallowed lists decide the policy set on their
		// own, independent of the parent's policies.
		localDefault := !req.NoDefaultPolicy && !hasPolicy(role.DisallowedPolicies, defaultPolicyName)
		if len(requested) > 0 {
			policies = sanitizePolicies(requested, localDefault)
		}
		if len(role.AllowedPolicies) > 0 {
			allowed := sanitizePolicies(role.AllowedPolicies, localDefault)
			if len(policies) == 0 {
				policies = allowed
			} else {
				for _, p := range policies {
					if !hasPolicy(allowed, p) {
						return nil, apierr.Invalid("token policies %q must be subset of the role's allowed policies %q", policies, allowed)
					}
				}
			}
		} else if len(policies) == 0 {
			policies = sanitizePolicies(parent.Policies, localDefault)
		}
		for _, p := range policies {
			if hasPolicy(role.DisallowedPolicies, p) {
				return nil, apierr.Invalid("token policy %q is disallowed by role %q", p, role.Name)
			}
		}
	case len(requested) == 0:
		// Inherit the parent's policies; "default" only if it had it.
		policies = sanitizePolicies(parent.Policies, false)
	case !sudo:
		want := sanitizePolicies(requested, false)
		have := sanitizePolicies(parent.Policies, false)
		for _, p := range want {
			if !hasPolicy(have, p) {
				return nil, apierr.Invalid("child policies must be subset of parent")
			}
		}
		policies = requested
		addDefault = !req.NoDefaultPolicy && hasPolicy(parent.Policies, defaultPolicyName)
	default:
		policies = requested
		addDefault = !req.NoDefaultPolicy
	}
	policies = sanitizePolicies(policies, addDefault)
	if req.NoDefaultPolicy {
		policies = slices.DeleteFunc(policies, func(p string) bool { return p == defaultPolicyName })
	}
	return policies, nil
}

// Lookup returns the token with this id. Unknown, expired and malformed ids
// all yield the same PermissionDenied so callers learn nothing from it. It
// never writes, so it works on read-only secondaries.
func (m *Manager) Lookup(ctx context.Context, id string) (*Token, error) {
	if !validTokenID(id) {
		return nil, apierr.PermissionDenied("permission denied")
	}
	hash := HashID(id)
	tok, ok, gen := m.tokens.get(hash)
	if !ok {
		var err error
		if tok, err = m.readToken(ctx, hash); err != nil {
			return nil, err
		}
		if tok != nil {
			m.tokens.put(hash, copyToken(tok), gen)
		}
	} else {
		tok = copyToken(tok)
	}
	if tok == nil || m.expired(tok) {
		return nil, apierr.PermissionDenied("permission denied")
	}
	tok.ID = id
	return tok, nil
}

func (m *Manager) expired(tok *Token) bool {
	return !tok.ExpireTime.IsZero() && m.now().After(tok.ExpireTime)
}

// readToken returns the stored token for a hash, or nil if there is none.
func (m *Manager) readToken(ctx context.Context, hash string) (*Token, error) {
	raw, err := m.store.Get(ctx, tokenPrefix+hash)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	var tok Token
	if err := json.Unmarshal(raw, &tok); err != nil {
		return nil, fmt.Errorf("decode token: %w", err)
	}
	return &tok, nil
}

// LookupAccessor returns the token (without its id) that has accessor.
func (m *Manager) LookupAccessor(ctx context.Context, accessor string) (*Token, error) {
	hash, err := m.accessorHash(ctx, accessor)
	if err != nil {
		return nil, err
	}
	tok, err := m.readToken(ctx, hash)
	if err != nil {
		return nil, err
	}
	if tok == nil || m.expired(tok) {
		return nil, apierr.Invalid("invalid accessor: no live token has it")
	}
	return tok, nil
}

func (m *Manager) accessorHash(ctx context.Context, accessor string) (string, error) {
	if accessor == "" || strings.Contains(accessor, "/") || len(accessor) > maxTokenIDLen {
		return "", apierr.Invalid("invalid accessor: pass the accessor returned when the token was created")
	}
	raw, err := m.store.Get(ctx, accessorPrefix+accessor)
	if errors.Is(err, storage.ErrNotFound) {
		return "", apierr.Invalid("invalid accessor: no live token has it")
	}
	if err != nil {
		return "", fmt.Errorf("read accessor: %w", err)
	}
	return string(raw), nil
}

// Revoke deletes the token with this id and all its descendants. Revoking
// a token that does not exist succeeds, as Vault's 204 does.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	if !validTokenID(id) {
		return nil
	}
	return m.revokeTree(ctx, HashID(id))
}

// RevokeAccessor revokes the token with this accessor and its descendants.
func (m *Manager) RevokeAccessor(ctx context.Context, accessor string) error {
	hash, err := m.accessorHash(ctx, accessor)
	if err != nil {
		return err
	}
	return m.revokeTree(ctx, hash)
}

func (m *Manager) revokeTree(ctx context.Context, hash string) error {
	return m.revokeHash(ctx, hash, "", 0, map[string]bool{})
}

// revokeHash revokes children before the token itself, so an interrupted
// revocation leaves the parent in place to be revoked again rather than
// leaving live descendants that nothing points to. indexKey is the parent
// index entry that led here, deleted even if the token record is gone.
func (m *Manager) revokeHash(ctx context.Context, hash, indexKey string, depth int, seen map[string]bool) error {
	if depth > maxRevokeDepth {
		return fmt.Errorf("revoke token tree: deeper than %d levels; revoke the deepest tokens first", maxRevokeDepth)
	}
	if seen[hash] {
		return nil
	}
	seen[hash] = true

	if err := m.revokeChildren(ctx, hash, depth, seen); err != nil {
		return err
	}
	tok, err := m.readToken(ctx, hash)
	if err != nil {
		return err
	}
	ops := []storage.Op{{Key: tokenPrefix + hash, Delete: true}}
	if indexKey != "" {
		ops = append(ops, storage.Op{Key: indexKey, Delete: true})
	}
	if tok != nil {
		if tok.Accessor != "" {
			ops = append(ops, storage.Op{Key: accessorPrefix + tok.Accessor, Delete: true})
		}
		if k := parentPrefix + tok.Parent + "/" + hash; tok.Parent != "" && k != indexKey {
			ops = append(ops, storage.Op{Key: k, Delete: true})
		}
	}
	m.tokenMu.Lock()
	_, err = m.store.Write(ctx, ops...)
	m.tokenMu.Unlock()
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	// A child created while we were revoking would otherwise outlive us.
	return m.revokeChildren(ctx, hash, depth, seen)
}

func (m *Manager) revokeChildren(ctx context.Context, hash string, depth int, seen map[string]bool) error {
	dir := parentPrefix + hash + "/"
	children, err := m.store.List(ctx, dir)
	if err != nil {
		return fmt.Errorf("list child tokens: %w", err)
	}
	for _, child := range children {
		if strings.HasSuffix(child, "/") {
			continue
		}
		if err := m.revokeHash(ctx, child, dir+child, depth+1, seen); err != nil {
			return err
		}
	}
	return nil
}
