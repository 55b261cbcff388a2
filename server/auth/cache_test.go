package auth

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// TestCachesFollowStoreChanges changes a token and a policy underneath the
// Manager, straight in the store as replication applying the primary's WAL
// does, after both were cached: the next lookup and ACL check must see the
// change, not the cached copy.
func TestCachesFollowStoreChanges(t *testing.T) {
	ctx := context.Background()
	m, st, _ := newTestManager(t)
	root := mustRoot(t, m)
	if err := m.PutPolicy(ctx, "app", `path "secret/app/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok := mustCreate(t, m, root, true, CreateRequest{Policies: []string{"app"}})

	// Cache both.
	looked, err := m.Lookup(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Authorize(ctx, looked, "secret/app/db", OpRead, false); err != nil {
		t.Fatalf("before the change: %v", err)
	}
	// A caller changing its copy does not change the cached token.
	looked.Policies[0] = "root"
	looked, err = m.Lookup(ctx, tok.ID)
	if err != nil || looked.Policies[0] != "app" {
		t.Fatalf("Lookup after the caller changed its copy = %+v, %v", looked, err)
	}

	// The policy becomes a deny, as a replicated write would make it.
	raw, err := json.Marshal(Policy{Name: "app", Raw: `path "secret/app/*" { capabilities = ["deny"] }`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write(ctx, storage.Op{Key: policyPrefix + "app", Value: raw}); err != nil {
		t.Fatal(err)
	}
	if err := m.Authorize(ctx, looked, "secret/app/db", OpRead, false); err == nil {
		t.Fatal("Authorize used the cached ACL after the policy changed in the store")
	}

	// The token disappears (a replicated revoke).
	if _, err := st.Write(ctx, storage.Op{Key: tokenPrefix + HashID(tok.ID), Delete: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lookup(ctx, tok.ID); err == nil {
		t.Fatal("Lookup returned the cached token after it was deleted in the store")
	}
}

// TestDropCachesForgetsEverything: after DropCaches (what sealing does) no
// decoded token or ACL is left in memory.
func TestDropCachesForgetsEverything(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newTestManager(t)
	root := mustRoot(t, m)
	tok := mustCreate(t, m, root, true, CreateRequest{Policies: []string{"default"}})
	looked, err := m.Lookup(ctx, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Authorize(ctx, looked, "secret/x", OpRead, false)
	if len(m.tokens.m) == 0 || len(m.acls.m) == 0 {
		t.Fatalf("before: %d tokens and %d ACLs cached, want some of each", len(m.tokens.m), len(m.acls.m))
	}
	m.DropCaches()
	if len(m.tokens.m) != 0 || len(m.acls.m) != 0 {
		t.Fatalf("after DropCaches: %d tokens and %d ACLs cached, want none", len(m.tokens.m), len(m.acls.m))
	}
}
