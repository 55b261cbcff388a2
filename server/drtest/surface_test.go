package drtest

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// TestVaultSurfaceAcrossDR: on a DR secondary, sys/leader answers (vault
// status needs it) while generate-root, accessors, capabilities and
// sys/auth are refused like every normal path; a root token generated on
// the primary, a token's accessor and its renewal replicate, and all of them
// work on the secondary once it is promoted.
func TestVaultSurfaceAcrossDR(t *testing.T) {
	a, b := setupPair(t, "")

	newRoot := a.generateRoot(a.keys)
	created, err := a.client(newRoot).Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"default"}, TTL: "1h"})
	if err != nil {
		t.Fatalf("create with the generated root token: %v", err)
	}
	acc := created.Auth.Accessor
	renewed, err := a.client(newRoot).Auth().Token().RenewAccessor(acc, 7200)
	if err != nil || renewed.Auth.LeaseDuration != 7200 {
		t.Fatalf("RenewAccessor on the primary = %+v, %v", renewed, err)
	}
	waitInSync(t, a, b)

	leader, err := b.client("").Sys().Leader()
	if err != nil || leader.HAEnabled {
		t.Fatalf("Leader on the DR secondary = %+v, %v", leader, err)
	}
	for _, p := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/sys/generate-root/attempt", ""},
		{http.MethodPut, "/v1/sys/generate-root/attempt", "{}"},
		{http.MethodPut, "/v1/auth/token/lookup-accessor", `{"accessor":"` + acc + `"}`},
		{http.MethodPut, "/v1/sys/capabilities-accessor", `{"accessor":"` + acc + `","path":"x"}`},
		{http.MethodGet, "/v1/sys/auth", ""},
	} {
		code, body := b.raw(p.method, p.path, newRoot, p.body)
		if code != http.StatusBadRequest || !strings.Contains(body, "path disabled in replication DR secondary mode") {
			t.Errorf("%s %s on the DR secondary: %d %s", p.method, p.path, code, body)
		}
	}

	if _, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/promote", map[string]any{"dr_operation_token": b.drOperationToken(a.keys)}); err != nil {
		t.Fatalf("promote: %v", err)
	}
	root := b.client(newRoot)
	if pols, err := mustLookupSelf(t, root).TokenPolicies(); err != nil || !slices.Equal(pols, []string{"root"}) {
		t.Fatalf("generated root token on the promoted cluster: %v %v", pols, err)
	}
	sec, err := root.Auth().Token().LookupAccessor(acc)
	if err != nil {
		t.Fatalf("LookupAccessor on the promoted cluster: %v", err)
	}
	if ttl, _ := sec.TokenTTL(); ttl <= time.Hour || sec.Data["last_renewal_time"] == nil {
		t.Fatalf("the renewal did not replicate: ttl %v, data %v", ttl, sec.Data)
	}
	if caps, err := root.Sys().CapabilitiesAccessor(acc, "auth/token/lookup-self"); err != nil || !slices.Equal(caps, []string{"read"}) {
		t.Fatalf("CapabilitiesAccessor on the promoted cluster = %v, %v", caps, err)
	}
	// The promoted cluster generates root tokens from the shares it
	// replicated: the old primary's.
	if tok := b.generateRoot(a.keys); mustLookupSelf(t, b.client(tok)).Data["policies"] == nil {
		t.Fatal("root token generated on the promoted cluster has no policies")
	}
}

func mustLookupSelf(t *testing.T, c *vaultapi.Client) *vaultapi.Secret {
	t.Helper()
	s, err := c.Auth().Token().LookupSelf()
	if err != nil {
		t.Fatalf("LookupSelf: %v", err)
	}
	return s
}
