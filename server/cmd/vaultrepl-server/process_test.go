package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

var builder testserver.Builder

func client(t *testing.T, addr, token string) *vaultapi.Client {
	t.Helper()
	cfg := vaultapi.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	cfg.Timeout = 10 * time.Second
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

func initAndUnseal(t *testing.T, c *vaultapi.Client) *vaultapi.InitResponse {
	t.Helper()
	res, err := c.Sys().Init(&vaultapi.InitRequest{SecretShares: 5, SecretThreshold: 3})
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	unseal(t, c, res.Keys[2:])
	return res
}

func unseal(t *testing.T, c *vaultapi.Client, keys []string) {
	t.Helper()
	for _, k := range keys {
		st, err := c.Sys().Unseal(k)
		if err != nil {
			t.Fatalf("unseal: %v", err)
		}
		if !st.Sealed {
			return
		}
	}
	t.Fatal("still sealed after the shares")
}

// TestKillAfterAcknowledgedWrites: SIGKILL during a concurrent write load
// loses no acknowledged write; the restarted server is sealed and the same
// shares unseal it.
func TestKillAfterAcknowledgedWrites(t *testing.T) {
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{})
	res := initAndUnseal(t, client(t, srv.Addr, ""))
	root := client(t, srv.Addr, res.RootToken)

	const writers, target = 16, 400
	var acked sync.Map // key -> value
	var count atomic.Int64
	reached := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Bounded: each writer stops at 200 writes, on the first error
			// (the kill), or when the context ends.
			for i := 0; i < 200 && ctx.Err() == nil; i++ {
				key, value := fmt.Sprintf("load/w%02d/k%03d", w, i), fmt.Sprintf("v-%d-%d", w, i)
				if _, err := root.Logical().WriteWithContext(ctx, "secret/"+key, map[string]any{"v": value}); err != nil {
					return
				}
				acked.Store(key, value)
				if count.Add(1) >= target {
					once.Do(func() { close(reached) })
				}
			}
		}()
	}
	select {
	case <-reached:
	case <-ctx.Done():
		t.Fatalf("only %d writes acknowledged before the deadline", count.Load())
	}
	srv.Kill() // while the writers are still sending
	wg.Wait()
	n := count.Load()
	t.Logf("%d writes acknowledged before SIGKILL", n)

	srv.Restart()
	c := client(t, srv.Addr, "")
	st, err := c.Sys().SealStatus()
	if err != nil || !st.Sealed {
		t.Fatalf("restarted server: sealed=%v err=%v, want sealed", st != nil && st.Sealed, err)
	}
	unseal(t, c, res.Keys[:3])
	root = client(t, srv.Addr, res.RootToken)
	missing := 0
	acked.Range(func(k, v any) bool {
		key, _ := k.(string)
		sec, err := root.Logical().Read("secret/" + key)
		if err != nil || sec == nil || sec.Data["v"] != v {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged write %s lost after SIGKILL: %v %v", k, sec, err)
			}
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, n)
	}
}

// TestDevModeSession: -dev prints what a user needs and serves at once.
func TestDevModeSession(t *testing.T) {
	start := time.Now()
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{Args: []string{"-dev", "-dev-root-token-id", "root"}})
	t.Logf("dev server answered after %s", time.Since(start).Round(time.Millisecond))
	// The server prints the banner before it serves, but the banner reaches
	// the test through a pipe that may lag behind the first answer.
	out := srv.WaitOutput("export VAULT_TOKEN=", 10*time.Second)
	for _, want := range []string{"Root Token: root", "Unseal Key: ", "API address:     " + srv.Addr} {
		if !strings.Contains(out, want) {
			t.Fatalf("dev banner lacks %q:\n%s", want, out)
		}
	}
	req, _ := http.NewRequest(http.MethodPut, srv.Addr+"/v1/secret/x", strings.NewReader(`{"hello":"world"}`))
	req.Header.Set("X-Vault-Token", "root")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	sec, err := client(t, srv.Addr, "root").Logical().Read("secret/x")
	if err != nil || sec.Data["hello"] != "world" {
		t.Fatalf("read: %v %v", sec, err)
	}
	// The dev root token is printed in the banner but never logged.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "time=") && strings.Contains(line, "root") && strings.Contains(line, "token") {
			t.Fatalf("a log line mentions the root token: %s", line)
		}
	}
}

// TestSIGTERMShutsDownCleanly: SIGTERM exits 0 and the database reopens.
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	srv := testserver.Start(t, builder.Binary(t), testserver.Options{})
	res := initAndUnseal(t, client(t, srv.Addr, ""))
	if _, err := client(t, srv.Addr, res.RootToken).Logical().Write("secret/a", map[string]any{"b": "c"}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.Output())
	}
	if !strings.Contains(srv.Output(), "cluster stopped") {
		t.Fatalf("no clean stop in the log:\n%s", srv.Output())
	}
	srv.Restart()
	c := client(t, srv.Addr, res.RootToken)
	unseal(t, c, res.Keys[:3])
	if sec, err := c.Logical().Read("secret/a"); err != nil || sec.Data["b"] != "c" {
		t.Fatalf("after restart: %v %v", sec, err)
	}
}

// TestConfigFile: the HCL config file sets listener and storage.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	ports := testserver.FreePorts(t, 2)
	api := ports[0]
	db := filepath.Join(dir, "from-config.db")
	cfg := fmt.Sprintf(`
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
storage "sqlite" { path = %q }
`, api, ports[1], db)
	path := filepath.Join(dir, "cluster.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// Flags override the file, so this process gets only -config.
	cmdSrv := testserver.StartArgs(t, builder.Binary(t), fmt.Sprintf("http://127.0.0.1:%d", api), "-config", path)
	initAndUnseal(t, client(t, cmdSrv.Addr, ""))
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("database from the config file not created: %v", err)
	}
}
