package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// drOpsPolicy lets a batch token created on the primary act as a DR
// operation token on every member of the DR set (API.md §5).
const drOpsPolicy = `
path "sys/replication/dr/secondary/promote" { capabilities = ["update"] }
path "sys/replication/dr/secondary/update-primary" { capabilities = ["update"] }
`

// TestAccFailoverWorkflow drives examples/failover, step by step, with the
// real CLI (terraform, or the one VAULTREPL_TF_CLI names) and the real
// provider binary on three live clusters A, B and C:
//
//	1-topology             A primary; B dr-1 and C dr-2 (both wiped)
//	(A is lost: SIGKILL)
//	2-promote-secondary    B promoted with A's key share
//	4-repoint-old-primary  C re-pointed to B (DR operation batch token), A still down
//	(A returns: restarted, unsealed; it is a primary again and takes a write)
//	3-demote-old-primary   apply adopts A, destroy demotes it
//	4-repoint-old-primary  A re-pointed to B too (DR operation token from key shares), no wipe
//	3-demote-old-primary   planned swap-back: B demoted
//	5-swap-back            A promoted back, B dr-1 and C dr-2 re-pointed to it
//
// Before every step it writes secrets on the current primary (KV v1 on
// secret/, and KV v2 secrets of two versions on a kv/ mount enabled on A
// before step 1); after every step it asks the servers (not the state) that
// each cluster has the role the configuration gives it, that each secondary
// streams WALs with its primary's merkle root and last WAL (DR secondaries
// refuse reads, so equal roots are the proof they hold the same data), and
// reads every secret a primary ever acknowledged on the current primary
// (for KV v2: the value, current_version and both versions' metadata). The one write that is
// lost is the documented one: taken by the old primary after it came back
// and before it was demoted, discarded when it re-syncs from the new primary.
func TestAccFailoverWorkflow(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("set TF_ACC=1 to run the multi-cluster test with the real CLI (make test-e2e, make test-tofu)")
	}
	begin := time.Now()
	ctx := context.Background()
	root := moduleRoot(t)
	tf := newCLI(t, root)
	t.Logf("CLI: %s (%s)", tf.path, tf.version)

	a, b, c := startCluster(t, "A"), startCluster(t, "B"), startCluster(t, "C")
	t.Logf("clusters: %s, %s, %s", a, b, c)
	// The DR set's key shares are A's: B and C take the primary's seal when
	// they join, and keep it through every later role change.
	keys := []string{a.key}
	tf.addSecret(a.key, b.key, c.key)
	l := &ledger{t: t, values: map[string]string{}}
	step := func(name string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		t.Logf("== %s: done in %s", name, time.Since(start).Round(time.Millisecond))
	}

	// A DR operation batch token, created on A before it becomes the primary,
	// so that it replicates to every member: the way to re-point a secondary
	// without the key share holders.
	if _, err := a.root.Write(ctx, "sys/policies/acl/dr-ops", map[string]any{"policy": drOpsPolicy}); err != nil {
		t.Fatalf("write policy dr-ops: %v", err)
	}
	sec, err := a.root.Write(ctx, "auth/token/create", map[string]any{"type": "batch", "policies": []string{"dr-ops"}, "ttl": "24h", "no_parent": true})
	if err != nil {
		t.Fatalf("create DR operation batch token: %v", err)
	}
	batchToken, _ := sec.Auth["client_token"].(string)
	if batchToken == "" {
		t.Fatalf("no client_token in %+v", sec.Auth)
	}
	tf.addSecret(batchToken)

	var clusterID string
	dir1 := stepDir(t, root, "1-topology")
	dir2 := stepDir(t, root, "2-promote-secondary")
	dir3 := stepDir(t, root, "3-demote-old-primary")
	dir4 := stepDir(t, root, "4-repoint-old-primary")
	dir5 := stepDir(t, root, "5-swap-back")

	step("step 1: topology (A primary, B dr-1, C dr-2)", func() {
		a.enableKVv2()
		l.write(a, "before-topology", 3)
		if err := b.write("secret/e2e/local-on-b", "wiped when B becomes a secondary"); err != nil {
			t.Fatal(err)
		}
		tf.apply(t, dir1, map[string]any{
			"primary_address": a.addr(), "secondary_address": b.addr(), "secondary2_address": c.addr(), "token": rootToken,
		})
		outs := tf.outputs(t, dir1)
		clusterID = outputString(t, outs, "cluster_id")
		expectStates(t, outs, "dr-1", "dr-2")
		expectTopology(t, "step 1", l, clusterID, a, map[string]*cluster{"dr-1": b, "dr-2": c})
		// A second plan is empty: nothing drifted, no token is minted again.
		tf.run(t, dir1, "plan", "-detailed-exitcode", "-input=false", "-no-color")
	})

	step("step 2: A is lost, B promoted", func() {
		l.write(a, "before-failover", 3)
		// Shipped before the loss, so the recovery point is empty and every
		// acknowledged secret must survive.
		expectTopology(t, "before the loss of A", l, clusterID, a, map[string]*cluster{"dr-1": b, "dr-2": c})
		a.kill()
		tf.apply(t, dir2, map[string]any{"address": b.addr(), "token": rootToken, "unseal_keys": keys})
		if mode := outputString(t, tf.outputs(t, dir2), "mode"); mode != client.ModePrimary {
			t.Fatalf("output mode = %s, want primary", mode)
		}
		// A promotion admits nobody: the old secondaries need new tokens.
		expectTopology(t, "step 2", l, clusterID, b, nil)
		if v, err := b.read("secret/e2e/local-on-b"); err != nil || v != "" {
			t.Fatalf("B's own secret from before it became a secondary: %q %v, want wiped", v, err)
		}
		expectMode(t, c, client.ModeSecondary, "", clusterID) // still following the lost A
	})

	step("step 4 (first apply): C re-pointed to B while A is down", func() {
		l.write(b, "before-repoint-c", 3)
		tf.apply(t, dir4, map[string]any{
			"new_primary_address": b.addr(), "token": rootToken,
			"secondary2_address": c.addr(), "secondary2_dr_operation_token": batchToken,
		})
		expectStates(t, tf.outputs(t, dir4), "dr-2")
		expectTopology(t, "step 4, C", l, clusterID, b, map[string]*cluster{"dr-2": c})
	})

	const splitBrain = "secret/e2e/split-brain-on-a"
	step("step 3: A returns and is demoted", func() {
		l.write(b, "before-return", 3)
		a.returnSealed()
		a.unseal(a.key)
		// Back as a primary of the DR set, beside B: it takes writes that B
		// never sees. This one is the documented cost: it is discarded when A
		// re-syncs from B, and it is not in the ledger.
		expectMode(t, a, client.ModePrimary, "", clusterID)
		if err := a.write(splitBrain, "acknowledged by the returned A only"); err != nil {
			t.Fatalf("write on the returned A: %v", err)
		}
		// The guards of the examples: step 4 refuses to touch A while it is a
		// primary, step 3 refuses a successor that is A itself.
		tf.planFails(t, dir4, map[string]any{
			"new_primary_address": b.addr(), "token": rootToken, "old_primary_address": a.addr(), "old_primary_dr_operation_token": "unused",
			"secondary2_address": c.addr(),
		}, "demote it first (step 3)")
		tf.planFails(t, dir3, map[string]any{"address": a.addr(), "cluster_id": clusterID, "successor_address": a.addr(), "token": rootToken},
			"is not another cluster that is the primary")
		tf.apply(t, dir3, map[string]any{"address": a.addr(), "cluster_id": clusterID, "successor_address": b.addr(), "token": rootToken})
		expectMode(t, a, client.ModePrimary, "", clusterID) // apply only adopts it
		tf.run(t, dir3, "destroy", "-auto-approve", "-input=false", "-no-color")
		expectMode(t, a, client.ModeSecondary, "idle", clusterID)
		if err := a.write("secret/e2e/after-demotion", "refused"); err == nil {
			t.Fatal("the demoted A accepted a write")
		}
		expectTopology(t, "step 3", l, clusterID, b, map[string]*cluster{"dr-2": c})
	})

	step("step 4 (second apply): A re-pointed to B without a wipe", func() {
		l.write(b, "before-repoint-a", 3)
		// Generated on A, now a secondary, with the DR set's key shares - what
		// `vault operator generate-root -dr-token` does.
		opToken := a.opToken(keys...)
		tf.addSecret(opToken)
		tf.apply(t, dir4, map[string]any{
			"new_primary_address": b.addr(), "token": rootToken,
			"old_primary_address": a.addr(), "old_primary_dr_operation_token": opToken,
			"secondary2_address": c.addr(),
		})
		expectStates(t, tf.outputs(t, dir4), "dr-1", "dr-2")
		expectTopology(t, "step 4, A", l, clusterID, b, map[string]*cluster{"dr-1": a, "dr-2": c})
		// A's merkle root is B's, and B never had the split-brain write.
		if v, err := b.read(splitBrain); err != nil || v != "" {
			t.Fatalf("%s on B: %q %v, want absent", splitBrain, v, err)
		}
		tf.run(t, dir4, "plan", "-detailed-exitcode", "-input=false", "-no-color")
	})

	step("step 5: planned swap-back (B demoted, A promoted, B and C re-pointed to A)", func() {
		l.write(b, "before-swap-back", 3)
		expectTopology(t, "before the swap-back", l, clusterID, b, map[string]*cluster{"dr-1": a, "dr-2": c})
		swapBack := map[string]any{
			"original_primary_address": a.addr(), "unseal_keys": keys, "token": rootToken,
			"demoted_primary_address": b.addr(), "demoted_primary_dr_operation_token": "not generated yet",
			"secondary2_address": c.addr(), "secondary2_dr_operation_token": batchToken,
		}
		// Promoting A while B is still the primary is refused by the plan.
		tf.planFails(t, dir5, swapBack, "demote it with step 3 first")
		tf.apply(t, dir3, map[string]any{"address": b.addr(), "cluster_id": clusterID, "successor_address": a.addr(), "token": rootToken})
		tf.run(t, dir3, "destroy", "-auto-approve", "-input=false", "-no-color")
		expectMode(t, b, client.ModeSecondary, "idle", clusterID)
		opToken := b.opToken(keys...)
		tf.addSecret(opToken)
		swapBack["demoted_primary_dr_operation_token"] = opToken
		tf.apply(t, dir5, swapBack)
		outs := tf.outputs(t, dir5)
		if mode := outputString(t, outs, "mode"); mode != client.ModePrimary {
			t.Fatalf("output mode = %s, want primary", mode)
		}
		expectStates(t, outs, "dr-1", "dr-2")
		expectTopology(t, "step 5", l, clusterID, a, map[string]*cluster{"dr-1": b, "dr-2": c})
		l.write(a, "after-swap-back", 3)
		expectTopology(t, "after the swap-back", l, clusterID, a, map[string]*cluster{"dr-1": b, "dr-2": c})
		tf.run(t, dir5, "plan", "-detailed-exitcode", "-input=false", "-no-color")
	})
	t.Logf("whole workflow with %s: %s", tf.name, time.Since(begin).Round(time.Millisecond))
}
