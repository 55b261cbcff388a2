package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"
)

// TestCapabilitiesThroughClient: the three capabilities endpoints through
// the official client (vault token capabilities [-accessor]).
func TestCapabilitiesThroughClient(t *testing.T) {
	tc := newUnsealedCluster(t)
	root := tc.client(tc.root)
	if err := root.Sys().PutPolicy("app-read", `path "secret/app/*" { capabilities = ["read", "list"] }`); err != nil {
		t.Fatal(err)
	}
	created, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"app-read"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, acc := created.Auth.ClientToken, created.Auth.Accessor
	want := []string{"list", "read"}

	got, err := root.Sys().Capabilities(tok, "secret/app/db")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("Capabilities = %v, %v; want %v", got, err, want)
	}
	got, err = tc.client(tok).Sys().CapabilitiesSelf("secret/app/db")
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("CapabilitiesSelf = %v, %v; want %v", got, err, want)
	}
	got, err = root.Sys().CapabilitiesAccessor(acc, "secret/other")
	if err != nil || !slices.Equal(got, []string{"deny"}) {
		t.Fatalf("CapabilitiesAccessor on a path outside the policy = %v, %v; want [deny]", got, err)
	}
	got, err = root.Sys().CapabilitiesSelf("anything")
	if err != nil || !slices.Equal(got, []string{"root"}) {
		t.Fatalf("root CapabilitiesSelf = %v, %v; want [root]", got, err)
	}

	// Several paths: one entry each and, as Vault, no "capabilities".
	code, body := tc.do(http.MethodPut, "/v1/sys/capabilities-accessor", tc.root,
		`{"accessor":"`+acc+`","paths":["secret/app/x","sys/seal"]}`)
	var resp struct {
		Data map[string][]string `json:"data"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &resp) != nil {
		t.Fatalf("capabilities-accessor with paths: %d %s", code, body)
	}
	if !slices.Equal(resp.Data["secret/app/x"], want) || !slices.Equal(resp.Data["sys/seal"], []string{"deny"}) || resp.Data["capabilities"] != nil {
		t.Fatalf("capabilities-accessor with paths: data %v", resp.Data)
	}

	_, err = root.Sys().Capabilities("hvs.AAAAAAAAAAAAAAAAAAAAAAAA", "secret/app/db")
	wantResponseError(t, "Capabilities of an unknown token", err, http.StatusBadRequest, "invalid token")
	_, err = root.Sys().CapabilitiesAccessor("nope", "secret/app/db")
	wantResponseError(t, "CapabilitiesAccessor of an unknown accessor", err, http.StatusBadRequest, "invalid accessor")
	// The default policy lets any token ask about itself, not about others.
	_, err = tc.client(tok).Sys().Capabilities(tc.root, "secret/app/db")
	wantResponseError(t, "Capabilities without a policy for it", err, http.StatusForbidden, "permission denied")
}

// TestListAuthThroughClient: sys/auth lists the token method as Vault
// does (vault auth list).
func TestListAuthThroughClient(t *testing.T) {
	tc := newUnsealedCluster(t)
	methods, err := tc.client(tc.root).Sys().ListAuth()
	if err != nil {
		t.Fatalf("ListAuth: %v", err)
	}
	m := methods["token/"]
	if len(methods) != 1 || m == nil {
		t.Fatalf("ListAuth = %v, want token/ only", methods)
	}
	if m.Type != "token" || m.Description != "token based credentials" || m.Accessor == "" || m.UUID == "" || m.Local || m.SealWrap || m.Options != nil || m.Config.TokenType != "default-service" {
		t.Fatalf("token/ = %+v", m)
	}
	code, body := tc.do(http.MethodGet, "/v1/sys/auth/token/tune", tc.root, "")
	var tune struct {
		Data map[string]any `json:"data"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &tune) != nil || tune.Data["max_lease_ttl"] != float64(2764800) || tune.Data["token_type"] != "default-service" {
		t.Fatalf("sys/auth/token/tune: %d %s", code, body)
	}
}
