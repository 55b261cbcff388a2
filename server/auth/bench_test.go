package auth

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Micro-benchmarks of the per-request auth work (issue 12):
//
//	go test ./server/auth/ -run '^$' -bench . -benchmem

func benchManager(b *testing.B) *Manager {
	b.Helper()
	st, err := storage.Open(context.Background(), filepath.Join(b.TempDir(), "db"), storage.Options{Sync: storage.SyncNormal})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return New(st, time.Now, rand.Reader)
}

// benchTokens creates a root token and a token holding two policies (one
// with a glob and a segment wildcard, as real policies have).
func benchTokens(b *testing.B, m *Manager) (root, user *Token) {
	b.Helper()
	ctx := context.Background()
	root, err := m.CreateRoot(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	for name, rules := range map[string]string{
		"writer": `path "secret/bench/*" { capabilities = ["create", "update", "read"] }
path "secret/+/config" { capabilities = ["read"] }`,
		"other": `path "sys/mounts" { capabilities = ["read"] }
path "secret/team/*" { capabilities = ["deny"] }`,
	} {
		if err := m.PutPolicy(ctx, name, rules); err != nil {
			b.Fatal(err)
		}
	}
	user, err = m.Create(ctx, root, true, CreateRequest{Policies: []string{"writer", "other"}})
	if err != nil {
		b.Fatal(err)
	}
	return root, user
}

// BenchmarkLookup resolves a token id to its token, as every request does.
func BenchmarkLookup(b *testing.B) {
	m := benchManager(b)
	_, user := benchTokens(b, m)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Lookup(ctx, user.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorize checks a non-root token's ACL for a KV write.
func BenchmarkAuthorize(b *testing.B) {
	m := benchManager(b)
	_, user := benchTokens(b, m)
	ctx := context.Background()
	tok, err := m.Lookup(ctx, user.ID)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Authorize(ctx, tok, "secret/bench/app/db", OpUpdate, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthorizeRoot is the root token's ACL check (no policies read).
func BenchmarkAuthorizeRoot(b *testing.B) {
	m := benchManager(b)
	root, _ := benchTokens(b, m)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Authorize(ctx, root, "secret/bench/app/db", OpUpdate, false); err != nil {
			b.Fatal(err)
		}
	}
}
