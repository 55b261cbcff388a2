package auth

import (
	"context"
	"strings"
)

// grants are the capabilities that count as access to a mount (Vault's
// hasMountAccess): any of them, and no deny.
const grants = capCreate | capRead | capUpdate | capDelete | capList | capSudo | capPatch

// HasMountAccess says whether tok may do anything at or under mountPath
// (e.g. "kv/"), as Vault checks before sys/internal/ui/mounts tells a token
// about a mount: a rule on the mount path itself, or any exact or glob rule
// below it, or a segment-wildcard rule that can reach below it.
func (m *Manager) HasMountAccess(ctx context.Context, tok *Token, mountPath string) (bool, error) {
	if tok == nil {
		return false, nil
	}
	a, err := m.loadACL(ctx, tok)
	if err != nil {
		return false, err
	}
	if a.root {
		return true, nil
	}
	if caps, ok := a.capabilitiesFor(mountPath, OpList); ok && caps&capDeny == 0 && caps&grants != 0 {
		return true, nil
	}
	for _, tree := range []map[string]capSet{a.exact, a.prefix} {
		for p, caps := range tree {
			if strings.HasPrefix(p, mountPath) && caps&capDeny == 0 && caps&grants != 0 {
				return true, nil
			}
		}
	}
	for full, caps := range a.segment {
		if caps&capDeny != 0 || caps&grants == 0 {
			continue
		}
		if segmentReaches(full, mountPath) {
			return true, nil
		}
	}
	return false, nil
}

// segmentReaches says whether the segment-wildcard rule full ("+" matches one
// path segment) can match a path under mountPath.
func segmentReaches(full, mountPath string) bool {
	rule := strings.TrimSuffix(full, "*")
	ruleParts := strings.Split(rule, "/")
	mountParts := strings.Split(strings.TrimSuffix(mountPath, "/"), "/")
	for i, mp := range mountParts {
		if i >= len(ruleParts) {
			return strings.HasSuffix(full, "*") // a glob ends before the mount: it covers it
		}
		rp := ruleParts[i]
		last := i == len(ruleParts)-1
		switch {
		case rp == "+", rp == mp:
		case last && strings.HasSuffix(full, "*") && strings.HasPrefix(mp, rp):
		default:
			return false
		}
	}
	return true
}
