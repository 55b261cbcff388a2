package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl"
	"github.com/hashicorp/hcl/hcl/ast"
	hclparser "github.com/hashicorp/hcl/hcl/parser"
	"github.com/hashicorp/hcl/hcl/token"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/pathcheck"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

const (
	policyPrefix = "sys/policy/"

	// rootPolicy grants everything; it has no rules and cannot be written.
	rootPolicy = "root"
	// defaultPolicyName exists even when never written, like Vault's.
	defaultPolicyName = "default"

	// maxPolicyNameLen keeps policy names usable as storage key parts.
	maxPolicyNameLen = 256
)

// defaultPolicyRules mirrors the paths and capabilities of Vault's built-in
// default policy, so tokens that only carry "default" can do the same
// self-service calls the vault CLI expects (lookup-self, renew-self, ...).
const defaultPolicyRules = `
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own entity by id or name
path "identity/entity/id/{{identity.entity.id}}" {
  capabilities = ["read"]
}
path "identity/entity/name/{{identity.entity.name}}" {
  capabilities = ["read"]
}

# Allow a token to look up its resultant ACL from all policies. This is useful
# for UIs. It is an internal path because the format may change at any time
# based on how the internal ACL features and capabilities change.
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body; old path for
# old clients, new path for newer
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token. This is a convenience to
# avoid client token swapping since this is also part of the response wrapping
# policy.
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Allow checking the status of a Control Group request if the user has the
# accessor
path "sys/control-group/request" {
    capabilities = ["update"]
}

# Allow a token to make requests to the Authorization Endpoint for OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
`

// Policy is a named ACL policy as stored: its name and the HCL text.
type Policy struct {
	Name string `json:"name"`
	Raw  string `json:"raw"`
}

// capSet is a bitmap of capabilities; bit values only matter in memory.
type capSet uint32

const (
	capDeny capSet = 1 << iota
	capCreate
	capRead
	capUpdate
	capDelete
	capList
	capSudo
	capPatch
	capSubscribe
	capRecover
)

// capNames is ordered alphabetically so Capabilities returns a sorted list
// without sorting, as Vault's sys/capabilities does.
var capNames = []struct {
	name string
	bit  capSet
}{
	{"create", capCreate},
	{"delete", capDelete},
	{"deny", capDeny},
	{"list", capList},
	{"patch", capPatch},
	{"read", capRead},
	{"recover", capRecover},
	{"subscribe", capSubscribe},
	{"sudo", capSudo},
	{"update", capUpdate},
}

func capBit(name string) (capSet, bool) {
	for _, c := range capNames {
		if c.name == name {
			return c.bit, true
		}
	}
	return 0, false
}

func validCapabilityList() string {
	names := make([]string, len(capNames))
	for i, c := range capNames {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// pathRule is one compiled `path "..." { ... }` block.
type pathRule struct {
	// path is the rule's path without a leading "/"; for a plain prefix glob
	// the trailing "*" is stripped (isPrefix set), for segment-wildcard rules
	// it is kept, as Vault does, because those are matched segment by segment.
	path        string
	isPrefix    bool
	hasSegments bool
	caps        capSet
}

// parsedPolicy is the compiled form of a policy's rules.
type parsedPolicy struct {
	rules []pathRule
}

// pathBlock is the HCL shape of one path block that we act on; other Vault
// keys (allowed_parameters, ...) are accepted but not enforced.
type pathBlock struct {
	Policy       string   `hcl:"policy"`
	Capabilities []string `hcl:"capabilities"`
}

// isValidPathKey reports whether key is one Vault accepts inside a path
// block. Accepting the ones we don't enforce keeps existing policies (e.g.
// from Terraform configs) loadable.
func isValidPathKey(key string) bool {
	switch key {
	case "comment", "policy", "capabilities", "allowed_parameters",
		"denied_parameters", "required_parameters", "min_wrapping_ttl",
		"max_wrapping_ttl", "mfa_methods", "control_group", "subscribe_event_types":
		return true
	}
	return false
}

// parsePolicy compiles HCL (or JSON) policy rules. Errors are apierr.Invalid
// and name the policy.
func parsePolicy(name, rules string) (p *parsedPolicy, err error) {
	fail := func(format string, args ...any) error {
		return apierr.Invalid("failed to parse policy %q: %s", name, fmt.Sprintf(format, args...))
	}
	// The HCL v1 parser is third-party code fed with client text; a panic in
	// it must become a rejected policy, not a crashed request.
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fail("the policy text could not be parsed; check its HCL syntax")
		}
	}()

	if strings.TrimSpace(rules) == "" {
		return nil, apierr.Invalid("policy %q has empty rules; provide HCL such as: path \"secret/*\" { capabilities = [\"read\"] }", name)
	}

	isJSON := strings.HasPrefix(strings.TrimSpace(rules), "{")
	if err := checkPolicyShape(rules, isJSON); err != nil {
		return nil, fail("%v", err)
	}

	var file *ast.File
	if isJSON {
		// JSON policies are accepted by Vault too.
		if err := checkJSONPolicy(rules); err != nil {
			return nil, fail("%v", err)
		}
		file, err = hcl.ParseString(rules)
	} else {
		// Vault only warns about duplicate attributes, so we accept them.
		file, err = hclparser.ParseDontErrorOnDuplicateKeys([]byte(rules))
	}
	if err != nil {
		return nil, fail("%v", err)
	}
	list, ok := file.Node.(*ast.ObjectList)
	if !ok {
		return nil, fail("does not contain a root object")
	}

	for _, item := range list.Items {
		key, ok := keyString(item, 0)
		if !ok {
			return nil, fail("invalid top-level key on line %d; only \"name\" and \"path\" are allowed", item.Pos().Line)
		}
		if key != "name" && key != "path" {
			return nil, fail("invalid key %q on line %d; only \"name\" and \"path\" are allowed", key, item.Pos().Line)
		}
	}

	p = &parsedPolicy{}
	for _, item := range list.Filter("path").Items {
		rule, err := parsePathItem(item)
		if err != nil {
			return nil, fail("%v", err)
		}
		p.rules = append(p.rules, rule)
	}
	return p, nil
}

// keyString returns item.Keys[i] as a string, if it is an identifier or string.
func keyString(item *ast.ObjectItem, i int) (string, bool) {
	if len(item.Keys) <= i || item.Keys[i] == nil {
		return "", false
	}
	tok := item.Keys[i].Token
	if tok.Type != token.IDENT && tok.Type != token.STRING {
		return "", false
	}
	s, ok := tok.Value().(string)
	return s, ok
}

func parsePathItem(item *ast.ObjectItem) (pathRule, error) {
	line := item.Pos().Line
	if len(item.Keys) != 1 {
		return pathRule{}, fmt.Errorf("path block on line %d must name exactly one path, as in path \"secret/*\" { ... }", line)
	}
	key, ok := keyString(item, 0)
	if !ok {
		return pathRule{}, fmt.Errorf("path block on line %d must name its path as a string", line)
	}
	obj, ok := item.Val.(*ast.ObjectType)
	if !ok {
		return pathRule{}, fmt.Errorf("path %q: expected a block { capabilities = [...] }", key)
	}
	for _, it := range obj.List.Items {
		k, ok := keyString(it, 0)
		if !ok || !isValidPathKey(k) {
			return pathRule{}, fmt.Errorf("path %q: invalid key on line %d; use capabilities = [...]", key, it.Pos().Line)
		}
	}
	if err := checkPathBlockValues(key, obj); err != nil {
		return pathRule{}, err
	}
	if err := pathcheck.Validate(strings.TrimPrefix(key, "/")); err != nil {
		return pathRule{}, fmt.Errorf("path block on line %d: %w", line, err)
	}
	var blk pathBlock
	if err := hcl.DecodeObject(&blk, item.Val); err != nil {
		return pathRule{}, fmt.Errorf("path %q: %w", key, err)
	}

	rule := pathRule{path: strings.TrimPrefix(key, "/")}
	if strings.Contains(rule.path, "+*") {
		return pathRule{}, fmt.Errorf("path %q: invalid use of wildcards ('+*' is forbidden)", rule.path)
	}
	if rule.path == "+" || strings.Contains(rule.path, "/+") || strings.HasPrefix(rule.path, "+/") {
		rule.hasSegments = true
	}
	if strings.HasSuffix(rule.path, "*") && !rule.hasSegments {
		rule.path = strings.TrimSuffix(rule.path, "*")
		rule.isPrefix = true
	}

	caps := blk.Capabilities
	switch blk.Policy {
	case "":
	case "deny":
		caps = []string{"deny"}
	case "read":
		caps = append(caps, "read", "list")
	case "write":
		caps = append(caps, "create", "read", "update", "delete", "list")
	case "sudo":
		caps = append(caps, "create", "read", "update", "delete", "list", "sudo")
	default:
		return pathRule{}, fmt.Errorf("path %q: invalid policy %q; use deny, read, write or sudo (or capabilities = [...])", key, blk.Policy)
	}
	for _, c := range caps {
		bit, ok := capBit(c)
		if !ok {
			return pathRule{}, fmt.Errorf("path %q: invalid capability %q; valid capabilities are %s", key, c, validCapabilityList())
		}
		if bit == capDeny {
			// deny excludes everything else on this path.
			rule.caps = capDeny
			break
		}
		rule.caps |= bit
	}
	return rule, nil
}

// sanitizePolicyName normalises a policy name as Vault does (trim, lower)
// and rejects names that cannot be a single storage key segment.
func sanitizePolicyName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return "", apierr.Invalid("policy name is missing; give the policy a name")
	}
	if len(n) > maxPolicyNameLen {
		return "", apierr.Invalid("policy name is longer than %d characters; choose a shorter name", maxPolicyNameLen)
	}
	for _, r := range n {
		if r == '/' || r < 0x20 || r == 0x7f {
			return "", apierr.Invalid("policy name %q contains %q; names cannot contain '/' or control characters", n, r)
		}
	}
	return n, nil
}

// PutPolicy parses and validates rules, then stores them under the
// lower-cased name. The root policy cannot be written.
func (m *Manager) PutPolicy(ctx context.Context, name, rules string) error {
	n, err := sanitizePolicyName(name)
	if err != nil {
		return err
	}
	if n == rootPolicy {
		return apierr.Invalid("cannot update %q policy; it is built in and grants everything", rootPolicy)
	}
	parsed, err := parsePolicy(n, rules)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(Policy{Name: n, Raw: rules})
	if err != nil {
		return fmt.Errorf("encode policy %q: %w", n, err)
	}
	if _, err := m.store.Write(ctx, storage.Op{Key: policyPrefix + n, Value: raw}); err != nil {
		return fmt.Errorf("store policy %q: %w", n, err)
	}
	m.cachePolicy(rules, parsed)
	return nil
}

// GetPolicy returns a stored policy; "root" and "default" always exist.
func (m *Manager) GetPolicy(ctx context.Context, name string) (*Policy, error) {
	n, err := sanitizePolicyName(name)
	if err != nil {
		return nil, err
	}
	if n == rootPolicy {
		return &Policy{Name: rootPolicy}, nil
	}
	raw, err := m.store.Get(ctx, policyPrefix+n)
	if errors.Is(err, storage.ErrNotFound) {
		if n == defaultPolicyName {
			return &Policy{Name: defaultPolicyName, Raw: defaultPolicyRules}, nil
		}
		return nil, apierr.NotFound("policy %q not found; list policies with sys/policy", n)
	}
	if err != nil {
		return nil, fmt.Errorf("read policy %q: %w", n, err)
	}
	var p Policy
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decode policy %q: %w", n, err)
	}
	p.Name = n
	return &p, nil
}

// DeletePolicy removes a policy; deleting one that does not exist succeeds,
// as in Vault. root and default cannot be deleted.
func (m *Manager) DeletePolicy(ctx context.Context, name string) error {
	n, err := sanitizePolicyName(name)
	if err != nil {
		return err
	}
	if n == rootPolicy || n == defaultPolicyName {
		return apierr.Invalid("cannot delete %q policy; it is built in", n)
	}
	if _, err := m.store.Write(ctx, storage.Op{Key: policyPrefix + n, Delete: true}); err != nil {
		return fmt.Errorf("delete policy %q: %w", n, err)
	}
	return nil
}

// ListPolicies returns all policy names sorted, including default and root.
func (m *Manager) ListPolicies(ctx context.Context) ([]string, error) {
	keys, err := m.store.List(ctx, policyPrefix)
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	seen := map[string]bool{rootPolicy: true, defaultPolicyName: true}
	out := []string{rootPolicy, defaultPolicyName}
	for _, k := range keys {
		if strings.HasSuffix(k, "/") || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// compiledPolicy returns the parsed form of a policy text, from the cache
// when the same text was parsed before. Keying by the text (not the name)
// keeps the cache correct when replication rewrites a policy underneath us.
func (m *Manager) compiledPolicy(name, rules string) (*parsedPolicy, error) {
	m.mu.Lock()
	p, ok := m.parsed[rules]
	m.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := parsePolicy(name, rules)
	if err != nil {
		return nil, err
	}
	m.cachePolicy(rules, p)
	return p, nil
}

func (m *Manager) cachePolicy(rules string, p *parsedPolicy) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Old texts are never evicted individually; starting over when full
	// bounds memory without tracking recency.
	if len(m.parsed) >= maxParsedPolicies {
		clear(m.parsed)
	}
	m.parsed[rules] = p
}
