package auth

import (
	"context"
	"fmt"
	"strings"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// Operation is the kind of request being authorized.
type Operation string

// The operations Vault's ACLs know about.
const (
	OpCreate Operation = "create"
	OpRead   Operation = "read"
	OpUpdate Operation = "update"
	OpDelete Operation = "delete"
	OpList   Operation = "list"
	OpPatch  Operation = "patch"
)

func (op Operation) capability() (capSet, bool) {
	switch op {
	case OpCreate:
		return capCreate, true
	case OpRead:
		return capRead, true
	case OpUpdate:
		return capUpdate, true
	case OpDelete:
		return capDelete, true
	case OpList:
		return capList, true
	case OpPatch:
		return capPatch, true
	}
	return 0, false
}

// acl is the merge of all of a token's policies.
type acl struct {
	root bool
	// exact and prefix are keyed by the rule path (prefix without the "*");
	// segment is keyed by the full rule path including any trailing "*".
	exact   map[string]capSet
	prefix  map[string]capSet
	segment map[string]capSet
}

func newACL(policies []*parsedPolicy) *acl {
	a := &acl{
		exact:   map[string]capSet{},
		prefix:  map[string]capSet{},
		segment: map[string]capSet{},
	}
	for _, p := range policies {
		for _, r := range p.rules {
			tree := a.exact
			switch {
			case r.hasSegments:
				tree = a.segment
			case r.isPrefix:
				tree = a.prefix
			}
			tree[r.path] = mergeCaps(tree[r.path], r.caps)
		}
	}
	return a
}

// mergeCaps unions two capability sets for the same path, except that an
// explicit deny from any policy replaces everything, as in Vault.
func mergeCaps(existing, add capSet) capSet {
	if existing&capDeny != 0 || add&capDeny != 0 {
		return capDeny
	}
	return existing | add
}

// capabilitiesFor returns the capabilities that govern path for op and
// whether any rule matched. It follows Vault's ACL.AllowOperation lookup
// order: exact rule, then (for list) the exact rule without the trailing
// slash, then wildcard rules.
func (a *acl) capabilitiesFor(path string, op Operation) (capSet, bool) {
	path = strings.TrimLeft(path, "/")
	if c, ok := a.exact[path]; ok {
		return c, true
	}
	if op == OpList {
		if c, ok := a.exact[strings.TrimSuffix(path, "/")]; ok {
			return c, true
		}
		// A list of "foo/" must also consider wildcard rules that match
		// "foo" (e.g. "fo*"), which Vault checks first.
		if strings.HasSuffix(path, "/") {
			if c, ok := a.nonExact(strings.TrimSuffix(path, "/")); ok {
				return c, true
			}
		}
	}
	return a.nonExact(path)
}

// wildcardMatch is one matching glob or segment-wildcard rule, with what
// Vault ranks it by.
type wildcardMatch struct {
	firstWildcard int
	isPrefix      bool
	wildcards     int
	path          string
	caps          capSet
}

// lowerPriority reports whether x ranks below y by Vault's documented order:
// the first wildcard later in the path wins; a rule not ending in "*" beats
// one that does; fewer "+" segments win; longer wins; lexically larger wins.
func lowerPriority(x, y wildcardMatch) bool {
	if x.firstWildcard != y.firstWildcard {
		return x.firstWildcard < y.firstWildcard
	}
	if x.isPrefix != y.isPrefix {
		return x.isPrefix
	}
	if x.wildcards != y.wildcards {
		return x.wildcards > y.wildcards
	}
	if len(x.path) != len(y.path) {
		return len(x.path) < len(y.path)
	}
	return x.path < y.path
}

// nonExact finds the highest-priority wildcard rule matching path.
func (a *acl) nonExact(path string) (capSet, bool) {
	var best *wildcardMatch
	consider := func(m wildcardMatch) {
		if best == nil || lowerPriority(*best, m) {
			best = &m
		}
	}

	// Among plain globs only the longest matching prefix can win: its glob
	// is the latest in the path.
	longest, found := "", false
	for p := range a.prefix {
		if strings.HasPrefix(path, p) && (!found || len(p) > len(longest)) {
			longest, found = p, true
		}
	}
	if found {
		consider(wildcardMatch{firstWildcard: len(longest), isPrefix: true, path: longest, caps: a.prefix[longest]})
	}

	parts := strings.Split(path, "/")
rules:
	for full, caps := range a.segment {
		if full == "" {
			continue
		}
		m := wildcardMatch{firstWildcard: strings.Index(full, "+"), caps: caps}
		rule := full
		if strings.HasSuffix(rule, "*") {
			m.isPrefix = true
			rule = strings.TrimSuffix(rule, "*")
		}
		m.path = rule
		ruleParts := strings.Split(rule, "/")
		if len(parts) < len(ruleParts) {
			continue
		}
		if !m.isPrefix && len(parts) != len(ruleParts) {
			continue
		}
		for i, rp := range ruleParts {
			switch {
			case rp == "+":
				m.wildcards++
			case rp == parts[i]:
			case m.isPrefix && i == len(ruleParts)-1 && strings.HasPrefix(parts[i], rp):
			default:
				continue rules
			}
		}
		consider(m)
	}
	if best == nil {
		return 0, false
	}
	return best.caps, true
}

// loadACL builds the merged ACL of a token's policies from storage. Policies
// that do not exist are skipped, as Vault does.
func (m *Manager) loadACL(ctx context.Context, tok *Token) (*acl, error) {
	for _, name := range tok.Policies {
		if name == rootPolicy {
			return rootACL, nil
		}
	}
	key := policySetKey(tok.Policies)
	a, ok, gen := m.acls.get(key)
	if ok {
		return a, nil
	}
	a, err := m.readACL(ctx, tok)
	if err != nil {
		return nil, err
	}
	m.acls.put(key, a, gen)
	return a, nil
}

// rootACL is the ACL of every root token; ACLs are never changed once built.
var rootACL = &acl{root: true}

// readACL reads and merges the token's policies.
func (m *Manager) readACL(ctx context.Context, tok *Token) (*acl, error) {
	var parsed []*parsedPolicy
	for _, name := range tok.Policies {
		p, err := m.GetPolicy(ctx, name)
		if k := apierr.KindOf(err); k == apierr.KindNotFound || k == apierr.KindInvalid {
			// A missing policy, or a name that can never be stored, grants
			// nothing.
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load policy %q: %w", name, err)
		}
		pp, err := m.compiledPolicy(p.Name, p.Raw)
		if err != nil {
			// A stored policy was validated when written; one that no longer
			// parses (e.g. replicated from a newer primary) grants nothing
			// rather than failing every request of the token.
			continue
		}
		parsed = append(parsed, pp)
	}
	return newACL(parsed), nil
}

// Authorize returns nil when tok may perform op on path (with sudo when
// needSudo), else apierr.PermissionDenied.
func (m *Manager) Authorize(ctx context.Context, tok *Token, path string, op Operation, needSudo bool) error {
	if tok == nil {
		return apierr.PermissionDenied("permission denied")
	}
	want, ok := op.capability()
	if !ok {
		return apierr.Invalid("unknown operation %q", op)
	}
	a, err := m.loadACL(ctx, tok)
	if err != nil {
		return err
	}
	if a.root {
		return nil
	}
	caps, ok := a.capabilitiesFor(path, op)
	if !ok || caps&capDeny != 0 || caps&want == 0 || (needSudo && caps&capSudo == 0) {
		return apierr.PermissionDenied("permission denied")
	}
	return nil
}

// Capabilities returns tok's capabilities on path as sys/capabilities
// reports them: sorted names, ["root"] for root tokens, ["deny"] when none.
func (m *Manager) Capabilities(ctx context.Context, tok *Token, path string) ([]string, error) {
	if tok == nil {
		return []string{"deny"}, nil
	}
	a, err := m.loadACL(ctx, tok)
	if err != nil {
		return nil, err
	}
	if a.root {
		return []string{rootPolicy}, nil
	}
	// List is what Vault uses here so that the trailing-slash fallback
	// applies, modelling what a real request would get.
	caps, _ := a.capabilitiesFor(path, OpList)
	return capabilityNames(caps), nil
}

func capabilityNames(caps capSet) []string {
	if caps&capDeny != 0 || caps == 0 {
		return []string{"deny"}
	}
	var out []string
	for _, c := range capNames {
		if caps&c.bit != 0 {
			out = append(out, c.name)
		}
	}
	return out
}
