package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/auth"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/core"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Micro-benchmarks of the KV write hot path (issue 12). Run with
//
//	go test ./server/httpapi/ -run '^$' -bench . -benchmem
//
// (BenchmarkReadBody, the request decode, is in body_test.go.) They measure CPU and allocations per operation in-process; throughput
// and CPU per write of a real server process are `make bench`'s job.

// benchBody is the body `make bench` sends: one 64-byte value.
var benchBody = []byte(`{"value":"` + strings.Repeat("x", 64) + `"}`)

// benchAPI is an unsealed cluster (root token "root") on a SQLite file with
// synchronous=NORMAL, so the handler benchmarks measure CPU rather than
// fsyncs, and its HTTP handler.
func benchAPI(b *testing.B) (*core.Core, http.Handler) {
	b.Helper()
	ctx := context.Background()
	store, err := storage.Open(ctx, filepath.Join(b.TempDir(), "cluster.db"), storage.Options{Sync: storage.SyncNormal})
	if err != nil {
		b.Fatal(err)
	}
	c, err := core.New(ctx, store, core.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c.Close()
		_ = store.Close()
	})
	res, err := c.Initialize(ctx, 1, 1, "root")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Seal.Unseal(ctx, fmt.Sprintf("%x", res.Keys[0])); err != nil {
		b.Fatal(err)
	}
	return c, New(c).Handler()
}

// benchPolicyToken creates a token whose only policy may create and update
// secret/bench/*: the non-root path (existence check, ACL).
func benchPolicyToken(b *testing.B, c *core.Core) string {
	b.Helper()
	ctx := context.Background()
	if err := c.Auth.PutPolicy(ctx, "bench-writer", `path "secret/bench/*" { capabilities = ["create", "update"] }`); err != nil {
		b.Fatal(err)
	}
	root, err := c.Auth.Lookup(ctx, "root")
	if err != nil {
		b.Fatal(err)
	}
	tok, err := c.Auth.Create(ctx, root, true, auth.CreateRequest{Policies: []string{"bench-writer"}})
	if err != nil {
		b.Fatal(err)
	}
	return tok.ID
}

// benchKVWrites PUTs distinct keys through the whole handler chain (routing,
// path check, token, ACL, body decode, KV write, group commit, response)
// from parallel goroutines, as concurrent clients do.
func benchKVWrites(b *testing.B, h http.Handler, token string) {
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			path := "/v1/secret/bench/" + strconv.FormatInt(n.Add(1), 10)
			req := httptest.NewRequest(http.MethodPut, path, bytes.NewReader(benchBody))
			req.Header.Set("X-Vault-Token", token)
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusNoContent {
				b.Errorf("PUT %s: %d %s", path, w.Code, w.Body.String())
				return
			}
		}
	})
}

func BenchmarkKVWriteHandlerRoot(b *testing.B) {
	_, h := benchAPI(b)
	benchKVWrites(b, h, "root")
}

func BenchmarkKVWriteHandlerPolicy(b *testing.B) {
	c, h := benchAPI(b)
	benchKVWrites(b, h, benchPolicyToken(b, c))
}
