package drtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"
)

// kvState is everything a client can read about the mounts and the KV v2
// secrets (each "mount/name"): the mount table, each secret's metadata and
// every version, and kv/'s config.
func kvState(t *testing.T, c *cluster, token string, secrets ...string) string {
	t.Helper()
	cl := c.client(token)
	mounts, err := cl.Sys().ListMounts()
	if err != nil {
		t.Fatalf("%s: list mounts: %v", c.name, err)
	}
	state := map[string]any{"mounts": mounts}
	for _, full := range secrets {
		mount, s, _ := strings.Cut(full, "/")
		kv := cl.KVv2(mount)
		m, err := kv.GetMetadata(t.Context(), s)
		if err != nil {
			t.Fatalf("%s: metadata of %s: %v", c.name, s, err)
		}
		raw, err := cl.Logical().Read(mount + "/metadata/" + s)
		if err != nil || raw == nil {
			t.Fatalf("%s: read metadata of %s: %v", c.name, s, err)
		}
		state[full+" metadata"] = raw.Data
		for v := 1; v <= m.CurrentVersion; v++ {
			sec, err := kv.GetVersion(t.Context(), s, v)
			if err != nil {
				state[fmt.Sprintf("%s@%d", full, v)] = "error: " + err.Error()
				continue
			}
			state[fmt.Sprintf("%s@%d", full, v)] = sec.Raw.Data
		}
	}
	cfg, err := cl.Logical().Read("kv/config")
	if err != nil {
		t.Fatalf("%s: kv config: %v", c.name, err)
	}
	state["config"] = cfg.Data
	raw, err := json.MarshalIndent(state, "", " ") // map keys sorted: a stable form to compare
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestKVv2SurvivesFailover fills a KV v2 mount with versions, soft-deleted
// and destroyed versions and metadata, enables one mount and disables
// another while a secondary follows, then promotes the secondary and fails
// back: every version and metadata field reads the same on each new primary.
func TestKVv2SurvivesFailover(t *testing.T) {
	a, b := setupPair(t, "")
	ctx := t.Context()
	root := a.rootClient()
	if err := root.Sys().Mount("kv", &vaultapi.MountInput{Type: "kv-v2", Description: "versioned"}); err != nil {
		t.Fatalf("enable kv v2: %v", err)
	}
	if err := root.Sys().Mount("old", &vaultapi.MountInput{Type: "kv", Local: true}); err != nil {
		t.Fatalf("enable old: %v", err)
	}
	a.write(a.root, "old/gone", map[string]any{"v": "1"})
	a.write(a.root, "secret/legacy", map[string]any{"v": "from kv v1"})
	if _, err := root.Logical().Write("kv/config", map[string]any{"max_versions": 4}); err != nil {
		t.Fatal(err)
	}
	kv := root.KVv2("kv")
	for i := 1; i <= 6; i++ {
		if _, err := kv.Put(ctx, "app/db", map[string]any{"password": fmt.Sprintf("pw-%d", i), "n": i}); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if _, err := kv.Put(ctx, "app/api", map[string]any{"key": "k1"}); err != nil {
		t.Fatal(err)
	}
	if err := kv.PutMetadata(ctx, "app/api", vaultapi.KVMetadataPutInput{MaxVersions: 7, CASRequired: true, DeleteVersionAfter: 240 * time.Hour, CustomMetadata: map[string]any{"owner": "payments"}}); err != nil {
		t.Fatal(err)
	}
	waitInSync(t, a, b)

	// Changes while the secondary follows: soft delete, destroy, a new
	// mount, a disabled mount.
	if err := kv.Delete(ctx, "app/db"); err != nil {
		t.Fatal(err)
	}
	if err := kv.DeleteVersions(ctx, "app/db", []int{3}); err != nil {
		t.Fatal(err)
	}
	if err := kv.Destroy(ctx, "app/db", []int{4}); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "app/api", map[string]any{"key": "k2"}, vaultapi.WithCheckAndSet(1)); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().Mount("late", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().Unmount("old"); err != nil {
		t.Fatal(err)
	}
	// vault kv enable-versioning secret/: the v1 data becomes version 1.
	if err := root.Sys().TuneMountAllowNil("secret", vaultapi.TuneMountConfigInput{Options: &map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("upgrade secret/ to kv v2: %v", err)
	}
	secrets := []string{"kv/app/db", "kv/app/api", "secret/legacy"}
	onA := kvState(t, a, a.root, secrets...)
	for _, want := range []string{`"late/"`, `"pw-5"`, `"destroyed": true`, `"owner": "payments"`, `"from kv v1"`} {
		if !strings.Contains(onA, want) {
			t.Fatalf("state on A lacks %s:\n%s", want, onA)
		}
	}
	if strings.Contains(onA, `"old/"`) {
		t.Fatalf("disabled mount still listed on A")
	}
	waitInSync(t, a, b)

	// The secondary refuses mount and KV paths, as every normal path.
	for _, p := range []string{"/v1/kv/data/app/db", "/v1/sys/mounts", "/v1/sys/mounts/kv/tune", "/v1/kv/metadata/app/db"} {
		if code, body := b.raw(http.MethodGet, p, a.root, ""); code != http.StatusBadRequest || !strings.Contains(body, "DR secondary mode") {
			t.Fatalf("GET %s on the secondary: %d %s", p, code, body)
		}
	}

	// Promote B: it reads the same.
	if _, err := b.rootClient().Logical().Write("sys/replication/dr/secondary/promote", map[string]any{"dr_operation_token": b.drOperationToken(a.keys)}); err != nil {
		t.Fatalf("promote B: %v", err)
	}
	if onB := kvState(t, b, a.root, secrets...); onB != onA {
		t.Fatalf("after promotion B differs from A:\n--- A\n%s\n--- B\n%s", onA, onB)
	}
	if code, _ := b.raw(http.MethodGet, "/v1/old/gone", a.root, ""); code != http.StatusNotFound {
		t.Fatalf("disabled mount's secret on B: status %d, want 404", code)
	}

	// Work on B, then fail back to A.
	kvB := b.client(a.root).KVv2("kv")
	if _, err := kvB.Put(ctx, "app/db", map[string]any{"password": "pw-7"}); err != nil {
		t.Fatalf("write on promoted B: %v", err)
	}
	if err := kvB.Undelete(ctx, "app/db", []int{6}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.rootClient().Logical().Write("sys/replication/dr/primary/demote", map[string]any{}); err != nil {
		t.Fatalf("demote A: %v", err)
	}
	tokenA := b.secondaryToken(a.root, "a", nil)
	if _, err := a.client("").Logical().Write("sys/replication/dr/secondary/update-primary", map[string]any{"token": tokenA, "dr_operation_token": a.drOperationToken(a.keys)}); err != nil {
		t.Fatalf("point A at B: %v", err)
	}
	onB := kvState(t, b, a.root, secrets...)
	if !strings.Contains(onB, `"pw-7"`) || !strings.Contains(onB, `"pw-6"`) {
		t.Fatalf("B lacks its own writes:\n%s", onB)
	}
	waitInSync(t, b, a)
	if _, err := b.client(a.root).Logical().Write("sys/replication/dr/primary/demote", map[string]any{}); err != nil {
		t.Fatalf("demote B: %v", err)
	}
	if _, err := a.client("").Logical().Write("sys/replication/dr/secondary/promote", map[string]any{"dr_operation_token": a.drOperationToken(a.keys)}); err != nil {
		t.Fatalf("promote A: %v", err)
	}
	if back := kvState(t, a, a.root, secrets...); back != onB {
		t.Fatalf("after failback A differs from B:\n--- B\n%s\n--- A\n%s", onB, back)
	}
	keys := sortedMounts(t, a)
	if strings.Join(keys, ",") != "kv/,late/,secret/,sys/" {
		t.Fatalf("mounts after failback = %v", keys)
	}
}

func sortedMounts(t *testing.T, c *cluster) []string {
	t.Helper()
	m, err := c.rootClient().Sys().ListMounts()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
