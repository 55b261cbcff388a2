package httpapi

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"
)

// TestOfficialClientLifecycle drives a cluster through the official Go client
// from uninitialised to serving secrets under a policy.
func TestOfficialClientLifecycle(t *testing.T) {
	tc := newCluster(t)
	c := tc.client("")

	st, err := c.Sys().InitStatus()
	if err != nil || st {
		t.Fatalf("InitStatus = %v, %v; want false", st, err)
	}
	health, err := c.Sys().Health()
	if err != nil || health.Initialized || !health.Sealed {
		t.Fatalf("Health of an uninitialised cluster = %+v, %v", health, err)
	}

	res, err := c.Sys().Init(&vaultapi.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if len(res.Keys) != 5 || len(res.KeysB64) != 5 || res.RootToken == "" {
		t.Fatalf("Init answer: %d keys, %d base64 keys, root token set %v", len(res.Keys), len(res.KeysB64), res.RootToken != "")
	}
	seal, err := c.Sys().SealStatus()
	if err != nil || !seal.Sealed || seal.T != 3 || seal.N != 5 || seal.Type != "shamir" {
		t.Fatalf("SealStatus after init = %+v, %v", seal, err)
	}
	if _, err := c.Sys().Health(); err != nil {
		t.Fatalf("Health while sealed: %v", err)
	}
	// Sealed: logical paths answer 503.
	if code, _ := tc.do(http.MethodGet, "/v1/secret/x", res.RootToken, ""); code != http.StatusServiceUnavailable {
		t.Fatalf("read while sealed: status %d, want 503", code)
	}

	// One hex share, one base64 share, one hex share again: progress counts.
	raw, _ := hex.DecodeString(res.Keys[1])
	for i, k := range []string{res.Keys[0], base64.StdEncoding.EncodeToString(raw), res.Keys[2]} {
		seal, err = c.Sys().Unseal(k)
		if err != nil {
			t.Fatalf("Unseal share %d: %v", i, err)
		}
		if i < 2 && (seal.Progress != i+1 || !seal.Sealed) {
			t.Fatalf("after share %d: progress %d sealed %v", i, seal.Progress, seal.Sealed)
		}
	}
	if seal.Sealed {
		t.Fatal("still sealed after threshold shares")
	}
	health, err = c.Sys().Health()
	if err != nil || !health.Initialized || health.Sealed || health.ReplicationDRMode != "disabled" || health.ClusterID == "" {
		t.Fatalf("Health when active = %+v, %v", health, err)
	}

	root := tc.client(res.RootToken)
	if _, err := root.Logical().Write("secret/app/db", map[string]any{"password": "s3cr3t", "port": 5432}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, err := root.Logical().Write("secret/app/api", map[string]any{"key": "k"}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	sec, err := root.Logical().Read("secret/app/db")
	if err != nil || sec == nil || sec.Data["password"] != "s3cr3t" {
		t.Fatalf("Read = %+v, %v", sec, err)
	}
	list, err := root.Logical().List("secret/app")
	if err != nil || list == nil {
		t.Fatalf("List: %v", err)
	}
	if keys, _ := list.Data["keys"].([]any); len(keys) != 2 || keys[0] != "api" || keys[1] != "db" {
		t.Fatalf("List keys = %v, want [api db]", list.Data["keys"])
	}
	if _, err := root.Logical().Delete("secret/app/api"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if sec, err := root.Logical().Read("secret/app/api"); err != nil || sec != nil {
		t.Fatalf("Read after delete = %+v, %v; want nil, nil", sec, err)
	}

	// A token limited by policy reads what it may and nothing else.
	if err := root.Sys().PutPolicy("app-read", `path "secret/app/*" { capabilities = ["read", "list"] }`); err != nil {
		t.Fatalf("PutPolicy: %v", err)
	}
	created, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{"app-read"}, TTL: "1h"})
	if err != nil {
		t.Fatalf("Token create: %v", err)
	}
	if created.Auth.ClientToken[:4] != "hvs." || !slices.Contains(created.Auth.Policies, "app-read") || created.Auth.LeaseDuration != 3600 {
		t.Fatalf("created token auth = %+v", created.Auth)
	}
	reader := tc.client(created.Auth.ClientToken)
	if sec, err := reader.Logical().Read("secret/app/db"); err != nil || sec.Data["port"] == nil {
		t.Fatalf("reader Read = %+v, %v", sec, err)
	}
	_, err = reader.Logical().Write("secret/app/db", map[string]any{"password": "x"})
	var respErr *vaultapi.ResponseError
	if !errors.As(err, &respErr) || respErr.StatusCode != http.StatusForbidden {
		t.Fatalf("reader Write: %v, want 403", err)
	}
	self, err := reader.Auth().Token().LookupSelf()
	if err != nil || self.Data["display_name"] == nil {
		t.Fatalf("LookupSelf = %+v, %v", self, err)
	}
	if err := root.Auth().Token().RevokeOrphan(created.Auth.ClientToken); err != nil {
		// revoke-orphan is not served; revoke through the plain path.
		if _, err := root.Logical().Write("auth/token/revoke", map[string]any{"token": created.Auth.ClientToken}); err != nil {
			t.Fatalf("revoke: %v", err)
		}
	}
	if _, err := reader.Logical().Read("secret/app/db"); !errors.As(err, &respErr) || respErr.StatusCode != http.StatusForbidden {
		t.Fatalf("read with a revoked token: %v, want 403", err)
	}

	// Seal needs sudo; the root token has it.
	if err := root.Sys().Seal(); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if seal, _ := c.Sys().SealStatus(); !seal.Sealed {
		t.Fatal("not sealed after Seal")
	}
}
