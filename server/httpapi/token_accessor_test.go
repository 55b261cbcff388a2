package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// TestTokenAccessorsThroughClient drives lookup-accessor, renew-accessor and
// revoke-accessor through the official client (what vault token lookup
// -accessor and terraform-provider-vault's vault_token call).
func TestTokenAccessorsThroughClient(t *testing.T) {
	tc := newUnsealedCluster(t)
	root := tc.client(tc.root)
	tokens := root.Auth().Token()
	created, err := tokens.Create(&vaultapi.TokenCreateRequest{Policies: []string{"default"}, TTL: "1h", DisplayName: "app"})
	if err != nil {
		t.Fatal(err)
	}
	acc := created.Auth.Accessor

	sec, err := tokens.LookupAccessor(acc)
	if err != nil {
		t.Fatalf("LookupAccessor: %v", err)
	}
	if sec.Data["id"] != "" || sec.Data["accessor"] != acc || sec.Data["display_name"] != "token-app" {
		t.Fatalf("LookupAccessor data = %v; want the token without its id", sec.Data)
	}
	if ttl, _ := sec.TokenTTL(); ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("LookupAccessor ttl = %v, want about 1h", ttl)
	}

	// Half an hour on, a renewal by accessor grants another full hour.
	tc.now.offset = 30 * time.Minute
	sec, err = tokens.RenewAccessor(acc, 0)
	if err != nil {
		t.Fatalf("RenewAccessor: %v", err)
	}
	if sec.Auth == nil || sec.Auth.ClientToken != "" || sec.Auth.Accessor != acc || sec.Auth.LeaseDuration != 3600 || !sec.Auth.Renewable {
		t.Fatalf("RenewAccessor auth = %+v; want 3600s without the token", sec.Auth)
	}
	sec, err = tokens.Lookup(created.Auth.ClientToken)
	if err != nil {
		t.Fatal(err)
	}
	if ttl, _ := sec.TokenTTL(); ttl < 59*time.Minute || sec.Data["last_renewal_time"] == nil || sec.Data["creation_ttl"] != json.Number("3600") {
		t.Fatalf("after renewal: ttl %v, data %v", ttl, sec.Data)
	}

	// Revoked by accessor: gone for lookups by id (403 "bad token", as
	// Vault) and by accessor (400 "invalid accessor").
	if err := tokens.RevokeAccessor(acc); err != nil {
		t.Fatalf("RevokeAccessor: %v", err)
	}
	_, err = tokens.Lookup(created.Auth.ClientToken)
	wantResponseError(t, "Lookup of a revoked token", err, http.StatusForbidden, "bad token")
	_, err = tokens.LookupAccessor(acc)
	wantResponseError(t, "LookupAccessor of a revoked token", err, http.StatusBadRequest, "invalid accessor")
	_, err = tokens.RenewAccessor(acc, 0)
	wantResponseError(t, "RenewAccessor of a revoked token", err, http.StatusBadRequest, "invalid accessor")
	// Revoking an unknown accessor succeeds with Vault's warning.
	sec, err = root.Logical().Write("auth/token/revoke-accessor", map[string]any{"accessor": acc})
	if err != nil || sec == nil || len(sec.Warnings) != 1 || sec.Warnings[0] != "No token found with this accessor" {
		t.Fatalf("revoke of an unknown accessor = %+v, %v; want a warning", sec, err)
	}
	_, err = tokens.LookupAccessor("")
	wantResponseError(t, "LookupAccessor without an accessor", err, http.StatusBadRequest, "missing accessor")
}

// TestTokenRenewThroughClient: renew and renew-self follow Vault's TTL rules
// (increment, last granted TTL, explicit max TTL, renewable, batch tokens).
func TestTokenRenewThroughClient(t *testing.T) {
	tc := newUnsealedCluster(t)
	root := tc.client(tc.root)
	tokens := root.Auth().Token()
	capped, err := tokens.Create(&vaultapi.TokenCreateRequest{Policies: []string{"default"}, TTL: "1h", ExplicitMaxTTL: "90m"})
	if err != nil {
		t.Fatal(err)
	}
	sec, err := tokens.Renew(capped.Auth.ClientToken, 7200)
	if err != nil {
		t.Fatalf("Renew: %v", err)
	}
	if sec.Auth.ClientToken != capped.Auth.ClientToken || sec.Auth.LeaseDuration != 5400 || len(sec.Warnings) != 1 {
		t.Fatalf("Renew past the explicit max: auth %+v warnings %q; want 5400s and a warning", sec.Auth, sec.Warnings)
	}

	// renew-self, which the default policy allows.
	self := tc.client(capped.Auth.ClientToken)
	tc.now.offset = time.Hour
	sec, err = self.Auth().Token().RenewSelf(600)
	if err != nil {
		t.Fatalf("RenewSelf: %v", err)
	}
	if sec.Auth.LeaseDuration != 600 {
		t.Fatalf("RenewSelf(600) lease = %d", sec.Auth.LeaseDuration)
	}
	// Without an increment the TTL granted last is granted again.
	sec, err = self.Auth().Token().RenewSelf(0)
	if err != nil || sec.Auth.LeaseDuration != 600 {
		t.Fatalf("RenewSelf(0) = %+v, %v; want 600s again", sec, err)
	}
	// 65m after creation, 25m are left of the 90m explicit max.
	tc.now.offset = 65 * time.Minute
	sec, err = self.Auth().Token().RenewSelf(1800)
	if err != nil || sec.Auth.LeaseDuration != 1500 || len(sec.Warnings) != 1 {
		t.Fatalf("RenewSelf(1800) near the explicit max = %+v, %v; want 1500s and a warning", sec, err)
	}
	tc.now.offset = 0

	fixed, err := tokens.Create(&vaultapi.TokenCreateRequest{Policies: []string{"default"}, TTL: "1h", Renewable: new(bool)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tokens.Renew(fixed.Auth.ClientToken, 0)
	wantResponseError(t, "Renew of a non-renewable token", err, http.StatusBadRequest, "lease is not renewable")
	batch, err := tokens.Create(&vaultapi.TokenCreateRequest{Policies: []string{"default"}, Type: "batch"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tokens.Renew(batch.Auth.ClientToken, 0)
	wantResponseError(t, "Renew of a batch token", err, http.StatusBadRequest, "batch tokens cannot be renewed")
	_, err = tokens.Renew("hvs.AAAAAAAAAAAAAAAAAAAAAAAA", 0)
	wantResponseError(t, "Renew of an unknown token", err, http.StatusBadRequest, "token not found")

	// A child cannot be renewed past its parent's expiry.
	if err := root.Sys().PutPolicy("minter", `path "auth/token/create" { capabilities = ["update"] }`); err != nil {
		t.Fatal(err)
	}
	parent, err := tokens.Create(&vaultapi.TokenCreateRequest{Policies: []string{"minter"}, TTL: "10m"})
	if err != nil {
		t.Fatal(err)
	}
	child, err := tc.client(parent.Auth.ClientToken).Auth().Token().Create(&vaultapi.TokenCreateRequest{TTL: "5m"})
	if err != nil {
		t.Fatal(err)
	}
	sec, err = tokens.Renew(child.Auth.ClientToken, 3600)
	if err != nil || sec.Auth.LeaseDuration > 600 {
		t.Fatalf("Renew of a child past its parent = %+v, %v; want at most 600s", sec, err)
	}

	// lookup with no token looks up the caller, as Vault does.
	sec, err = root.Logical().Write("auth/token/lookup", map[string]any{})
	if err != nil || sec.Data["id"] != tc.root {
		t.Fatalf("lookup without a token = %+v, %v; want the caller's own token", sec, err)
	}
}
