package auth

import (
	"slices"
	"testing"
)

func mustACL(t *testing.T, policies ...string) *acl {
	t.Helper()
	var parsed []*parsedPolicy
	for _, rules := range policies {
		p, err := parsePolicy("test", rules)
		if err != nil {
			t.Fatalf("parse %q: %v", rules, err)
		}
		parsed = append(parsed, p)
	}
	return newACL(parsed)
}

// TestACLPriority: in each case the "update" rule must win over the "read"
// rule for the path (Vault's documented priority order and its own tests).
func TestACLPriority(t *testing.T) {
	tests := []struct {
		name, policy, path string
	}{
		{"exact beats glob", `path "secret/*" { capabilities = ["read"] } path "secret/a/x" { capabilities = ["update"] }`, "secret/a/x"},
		{"exact beats segment", `path "secret/+/x" { capabilities = ["read"] } path "secret/a/x" { capabilities = ["update"] }`, "secret/a/x"},
		{"segment not ending in * beats glob at same position", `path "secret/*" { capabilities = ["read"] } path "secret/+/x" { capabilities = ["update"] }`, "secret/a/x"},
		{"later glob beats earlier segment", `path "secret/+/x" { capabilities = ["read"] } path "secret/a/*" { capabilities = ["update"] }`, "secret/a/x"},
		{"longest glob wins", `path "secret/*" { capabilities = ["read"] } path "secret/foo/*" { capabilities = ["update"] }`, "secret/foo/bar"},
		{"star beats +/* (first wildcard position)", `path "+/*" { capabilities = ["read"] } path "*" { capabilities = ["update"] }`, "foo/bar/bar/baz"},
		{"foo/+/* beats +/*", `path "+/*" { capabilities = ["read"] } path "foo/+/*" { capabilities = ["update"] }`, "foo/bar/bar/baz"},
		{"fewer + beats more (glob)", `path "foo/+/+/*" { capabilities = ["read"] } path "foo/+/bar/baz" { capabilities = ["update"] }`, "foo/bar/bar/baz"},
		{"fewer + beats more", `path "foo/+/+/baz" { capabilities = ["read"] } path "foo/+/bar/baz" { capabilities = ["update"] }`, "foo/bar/bar/baz"},
		{"later first wildcard wins", `path "foo/+/(ar/baz" { capabilities = ["read"] } path "foo/(ar/+/baz" { capabilities = ["update"] }`, "foo/(ar/(ar/baz"},
		{"not ending in * wins", `path "foo/bar/+/baz*" { capabilities = ["read"] } path "foo/bar/+/baz" { capabilities = ["update"] }`, "foo/bar/bar/baz"},
		{"longer wins", `path "foo/bar/+/b*" { capabilities = ["read"] } path "foo/bar/+/ba*" { capabilities = ["update"] }`, "foo/bar/bar/baz"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := mustACL(t, tc.policy)
			caps, ok := a.capabilitiesFor(tc.path, OpUpdate)
			if !ok || caps&capUpdate == 0 {
				t.Errorf("update on %q not allowed: %v", tc.path, capabilityNames(caps))
			}
			if caps&capRead != 0 {
				t.Errorf("read on %q allowed, the lower-priority rule won: %v", tc.path, capabilityNames(caps))
			}
		})
	}
}

func TestLowerPriorityLexical(t *testing.T) {
	a := wildcardMatch{firstWildcard: 4, path: "foo/+/a"}
	b := wildcardMatch{firstWildcard: 4, path: "foo/+/b"}
	if !lowerPriority(a, b) || lowerPriority(b, a) {
		t.Error("lexically smaller path should have lower priority")
	}
}

func TestACLMatching(t *testing.T) {
	tests := []struct {
		name     string
		policies []string
		path     string
		op       Operation
		want     []string // capability names governing the request
	}{
		{"no rule", []string{`path "a" { capabilities = ["read"] }`}, "b", OpRead, []string{"deny"}},
		{"exact only exact", []string{`path "secret/foo" { capabilities = ["read"] }`}, "secret/foo/bar", OpRead, []string{"deny"}},
		{"glob prefix partial segment", []string{`path "secret/fo*" { capabilities = ["read"] }`}, "secret/foo/bar", OpRead, []string{"read"}},
		{"glob covers its own prefix", []string{`path "secret/*" { capabilities = ["read"] }`}, "secret/", OpRead, []string{"read"}},
		{"+ matches one segment", []string{`path "secret/+/x" { capabilities = ["read"] }`}, "secret/a/x", OpRead, []string{"read"}},
		{"+ does not match two", []string{`path "secret/+/x" { capabilities = ["read"] }`}, "secret/a/b/x", OpRead, []string{"deny"}},
		{"+ needs same segment count", []string{`path "secret/+" { capabilities = ["read"] }`}, "secret/a/b", OpRead, []string{"deny"}},
		{"+ with trailing glob", []string{`path "secret/+/x*" { capabilities = ["read"] }`}, "secret/a/xyz/q", OpRead, []string{"read"}},
		{"leading slash in request", []string{`path "a" { capabilities = ["read"] }`}, "/a", OpRead, []string{"read"}},
		{"policies union on same path", []string{`path "a" { capabilities = ["read"] }`, `path "a" { capabilities = ["list", "sudo"] }`}, "a", OpRead, []string{"list", "read", "sudo"}},
		{"deny wins on same path", []string{`path "a/*" { capabilities = ["read"] }`, `path "a/*" { capabilities = ["deny"] }`, `path "a/*" { capabilities = ["update"] }`}, "a/b", OpRead, []string{"deny"}},
		{"deny on glob vs exact allow", []string{`path "a/*" { capabilities = ["deny"] }`, `path "a/b" { capabilities = ["read"] }`}, "a/b", OpRead, []string{"read"}},
		{"list strips trailing slash for exact", []string{`path "secret/metadata" { capabilities = ["list"] }`}, "secret/metadata/", OpList, []string{"list"}},
		{"read does not strip trailing slash", []string{`path "secret/metadata" { capabilities = ["list"] }`}, "secret/metadata/", OpRead, []string{"deny"}},
		{"list of dir matches + rule", []string{`path "secret/+" { capabilities = ["list"] }`}, "secret/a/", OpList, []string{"list"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := mustACL(t, tc.policies...)
			caps, _ := a.capabilitiesFor(tc.path, tc.op)
			if got := capabilityNames(caps); !slices.Equal(got, tc.want) {
				t.Errorf("capabilities on %q = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}
