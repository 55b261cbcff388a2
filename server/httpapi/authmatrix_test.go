package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// concretePath fills a route pattern's parameters with sample values.
func concretePath(pattern string) string {
	if strings.HasPrefix(pattern, "sys/internal/ui/mounts/") {
		// 403 where no mount encloses the path or the token cannot reach the
		// mount; the default policy reaches sys/.
		return "/v1/sys/internal/ui/mounts/sys/health"
	}
	parts := strings.Split(pattern, "/")
	for i, p := range parts {
		switch {
		case strings.HasPrefix(p, ":"):
			parts[i] = "sample-" + p[1:]
		case strings.HasPrefix(p, "*"):
			parts[i] = "sample/key"
		}
	}
	return "/v1/" + strings.Join(parts, "/")
}

// defaultPolicyAllows lists the token-protected routes Vault's default
// policy opens to every token.
var defaultPolicyAllows = map[string]bool{
	"GET auth/token/lookup-self":       true,
	"PUT auth/token/revoke-self":       true,
	"PUT auth/token/renew-self":        true,
	"PUT sys/capabilities-self":        true,
	"GET sys/internal/ui/mounts/*path": true,
}

// TestAuthMatrix checks every token-protected route against every way a
// token can fall short: none, unknown, expired, lacking the capability, and
// lacking sudo where the route needs it.
func TestAuthMatrix(t *testing.T) {
	tc := newUnsealedCluster(t)
	root := tc.client(tc.root)
	if err := root.Sys().PutPolicy("everything-but-sudo", `path "*" { capabilities = ["create","read","update","delete","list","patch"] }`); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy("everything", `path "*" { capabilities = ["create","read","update","delete","list","patch","sudo"] }`); err != nil {
		t.Fatal(err)
	}
	// A fresh token per request: revoke-self would otherwise spend it.
	fixed := func(tok string) func() string { return func() string { return tok } }
	fresh := func(policy string) func() string { return func() string { return tc.token(policy) } }
	expiring, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"everything"}, TTL: "1h"})
	if err != nil {
		t.Fatal(err)
	}

	routes := New(tc.core).routes()
	type probe struct {
		name   string
		token  func() string
		denied func(rt *route) bool
	}
	always := func(*route) bool { return true }
	probes := []probe{
		{"no token", fixed(""), always},
		{"unknown token", fixed("hvs.AAAAAAAAAAAAAAAAAAAAAAAA"), always},
		{"malformed token", fixed("not a token"), always},
		{"default policy only", fresh("default"), func(rt *route) bool {
			return (rt.auth == authToken || rt.auth == authTokenOrDROperation) && !defaultPolicyAllows[rt.method+" "+rt.path] || rt.auth == authDROperation
		}},
		{"capabilities without sudo", fresh("everything-but-sudo"), func(rt *route) bool { return rt.sudo || rt.auth == authDROperation }},
		// DR operation routes ignore X-Vault-Token, however strong.
		{"capabilities with sudo", fresh("everything"), func(rt *route) bool { return rt.auth == authDROperation }},
	}
	checked := 0
	for _, p := range probes {
		for _, rt := range routes {
			if rt.auth == authNone {
				continue
			}
			name := fmt.Sprintf("%s/%s %s", p.name, rt.method, rt.path)
			code, body := tc.do(rt.method, concretePath(rt.path), p.token(), "")
			if p.denied(rt) {
				if code != http.StatusForbidden {
					t.Errorf("%s: status %d, want 403 (body %.200s)", name, code, body)
					continue
				}
				assertVaultError(t, body, "permission denied")
			} else if code == http.StatusForbidden || code >= 500 {
				t.Errorf("%s: status %d, want the request to pass the ACL (body %.200s)", name, code, body)
			}
			if rt.path == "sys/seal" && code == http.StatusNoContent {
				tc.unseal()
			}
			checked++
		}
	}

	// The same token stops working once it has expired.
	tc.now.offset = 2 * time.Hour
	for _, rt := range routes {
		if rt.auth == authNone || rt.path == "sys/seal" {
			continue
		}
		code, body := tc.do(rt.method, concretePath(rt.path), expiring.Auth.ClientToken, "")
		if code != http.StatusForbidden {
			t.Errorf("expired token/%s %s: status %d, want 403 (body %.200s)", rt.method, rt.path, code, body)
		}
		checked++
	}
	if checked < 100 {
		t.Fatalf("only %d route/token pairs checked", checked)
	}
}
