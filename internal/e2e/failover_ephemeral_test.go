package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-version"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// writeOnlyMinimum is the first Terraform with write-only arguments
// (ephemeral resources came in 1.10).
var writeOnlyMinimum = version.Must(version.NewVersion("1.11.0"))

var cliVersionRe = regexp.MustCompile(`^(Terraform|OpenTofu) v(\S+)`)

// requireWriteOnlyCLI skips, naming the CLI and its version, unless the CLI
// is Terraform 1.11 or later.
func requireWriteOnlyCLI(t *testing.T, tf *cli) {
	t.Helper()
	m := cliVersionRe.FindStringSubmatch(tf.version)
	if m == nil {
		t.Skipf("%s reports %q: ephemeral resources and write-only arguments need Terraform %s or later", tf.path, tf.version, writeOnlyMinimum)
	}
	v, err := version.NewVersion(m[2])
	if err != nil || m[1] != "Terraform" || v.LessThan(writeOnlyMinimum) {
		t.Skipf("%s %s: ephemeral resources and write-only arguments need Terraform %s or later; examples/failover is the form for it", m[1], m[2], writeOnlyMinimum)
	}
}

// TestAccFailoverWorkflowEphemeral drives examples/failover-ephemeral, the
// failover without a secret in any state, step by step with the real
// Terraform (1.11 or later) and provider binary on three live clusters, as
// TestAccFailoverWorkflow does for examples/failover:
//
//	1-topology             A primary; B dr-1 and C dr-2 (ephemeral activation tokens, token_wo)
//	(A is lost: SIGKILL)
//	2-promote-secondary    B promoted with A's key share (key_shares_wo)
//	4-repoint-old-primary  C re-pointed to B (ephemeral DR operation token generated on C)
//	(A returns, takes a write, and is demoted with ../failover/3-demote-old-primary)
//	4-repoint-old-primary  A re-pointed to B too, no wipe
//	(B demoted with 3-demote-old-primary)
//	5-swap-back            A promoted back, B dr-1 and C dr-2 re-pointed to it
//
// Every cluster sits behind a recording proxy, so the test knows every
// activation token and DR operation token the servers handed to the
// provider. After every step it scans `terraform show -json` and the raw
// state files of every step so far for them and for the key share (none
// may appear), checks that a new plan is empty, and checks the topology and
// every acknowledged secret (KV v1 and KV v2) through the servers' API.
func TestAccFailoverWorkflowEphemeral(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("set TF_ACC=1 to run the multi-cluster test with the real CLI (make test-e2e)")
	}
	begin := time.Now()
	root := moduleRoot(t)
	tf := newCLI(t, root)
	requireWriteOnlyCLI(t, tf)
	t.Logf("CLI: %s (%s)", tf.path, tf.version)

	a, b, c := startCluster(t, "A"), startCluster(t, "B"), startCluster(t, "C")
	recA, recB, recC := testserver.Record(t, a.addr()), testserver.Record(t, b.addr()), testserver.Record(t, c.addr())
	t.Logf("clusters: %s via %s, %s via %s, %s via %s", a, recA.URL, b, recB.URL, c, recC.URL)
	keys := []string{a.key}
	tf.addSecret(a.key, b.key, c.key)
	l := &ledger{t: t, values: map[string]string{}}
	recs := []*testserver.Recorder{recA, recB, recC}
	var dirs []string
	// check: an empty plan, then no secret in any state so far.
	check := func(dir string) {
		t.Helper()
		tf.run(t, dir, "plan", "-detailed-exitcode", "-input=false", "-no-color")
		scanStates(t, tf, dirs, secretsSeen(t, a.key, recs))
	}
	step := func(name string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		t.Logf("== %s: done in %s", name, time.Since(start).Round(time.Millisecond))
	}

	var clusterID string
	dir1 := exampleStepDir(t, root, "failover-ephemeral", "1-topology")
	dir2 := exampleStepDir(t, root, "failover-ephemeral", "2-promote-secondary")
	dir3 := stepDir(t, root, "3-demote-old-primary") // holds no secret: shared with examples/failover
	dir4 := exampleStepDir(t, root, "failover-ephemeral", "4-repoint-old-primary")
	dir5 := exampleStepDir(t, root, "failover-ephemeral", "5-swap-back")

	step("step 1: topology (A primary, B dr-1, C dr-2)", func() {
		a.enableKVv2()
		l.write(a, "before-topology", 3)
		tf.apply(t, dir1, map[string]any{
			"primary_address": recA.URL, "secondary_address": recB.URL, "secondary2_address": recC.URL, "token": rootToken,
		})
		dirs = append(dirs, dir1)
		outs := tf.outputs(t, dir1)
		clusterID = outputString(t, outs, "cluster_id")
		expectStates(t, outs, "dr-1", "dr-2")
		expectTopology(t, "step 1", l, clusterID, a, map[string]*cluster{"dr-1": b, "dr-2": c})
		check(dir1)
		// The plan above opened the ephemeral tokens again: dr-1 and dr-2
		// were already admitted, so nothing was minted and nothing revoked.
		expectTopology(t, "step 1, after a plan", l, clusterID, a, map[string]*cluster{"dr-1": b, "dr-2": c})
		if n := len(recA.ActivationTokens()); n < 2 {
			t.Fatalf("%d activation tokens minted on A, want at least dr-1's and dr-2's", n)
		}
	})

	step("step 2: A is lost, B promoted with key_shares_wo", func() {
		l.write(a, "before-failover", 3)
		expectTopology(t, "before the loss of A", l, clusterID, a, map[string]*cluster{"dr-1": b, "dr-2": c})
		a.kill()
		tf.apply(t, dir2, map[string]any{"address": recB.URL, "token": rootToken, "unseal_keys": keys})
		dirs = append(dirs, dir2)
		if mode := outputString(t, tf.outputs(t, dir2), "mode"); mode != client.ModePrimary {
			t.Fatalf("output mode = %s, want primary", mode)
		}
		expectTopology(t, "step 2", l, clusterID, b, nil)
		if len(recB.OperationTokens()) == 0 {
			t.Fatal("no DR operation token generated on B through the recorder")
		}
		check(dir2)
	})

	step("step 4 (first apply): C re-pointed to B with an ephemeral operation token", func() {
		l.write(b, "before-repoint-c", 3)
		tf.apply(t, dir4, map[string]any{
			"new_primary_address": recB.URL, "token": rootToken, "unseal_keys": keys, "secondary2_address": recC.URL,
		})
		dirs = append(dirs, dir4)
		expectStates(t, tf.outputs(t, dir4), "dr-2")
		expectTopology(t, "step 4, C", l, clusterID, b, map[string]*cluster{"dr-2": c})
		if len(recC.OperationTokens()) == 0 {
			t.Fatal("no DR operation token generated on C through the recorder")
		}
		check(dir4)
		expectTopology(t, "step 4, C, after a plan", l, clusterID, b, map[string]*cluster{"dr-2": c})
	})

	const splitBrain = "secret/e2e/split-brain-on-a"
	step("step 3: A returns and is demoted", func() {
		l.write(b, "before-return", 3)
		a.returnSealed()
		a.unseal(a.key)
		expectMode(t, a, client.ModePrimary, "", clusterID)
		if err := a.write(splitBrain, "acknowledged by the returned A only"); err != nil {
			t.Fatalf("write on the returned A: %v", err)
		}
		tf.apply(t, dir3, map[string]any{"address": recA.URL, "cluster_id": clusterID, "successor_address": recB.URL, "token": rootToken})
		tf.run(t, dir3, "destroy", "-auto-approve", "-input=false", "-no-color")
		expectMode(t, a, client.ModeSecondary, "idle", clusterID)
		expectTopology(t, "step 3", l, clusterID, b, map[string]*cluster{"dr-2": c})
	})

	step("step 4 (second apply): A re-pointed to B without a wipe", func() {
		l.write(b, "before-repoint-a", 3)
		tf.apply(t, dir4, map[string]any{
			"new_primary_address": recB.URL, "token": rootToken, "unseal_keys": keys,
			"old_primary_address": recA.URL, "secondary2_address": recC.URL,
		})
		expectStates(t, tf.outputs(t, dir4), "dr-1", "dr-2")
		expectTopology(t, "step 4, A", l, clusterID, b, map[string]*cluster{"dr-1": a, "dr-2": c})
		if v, err := b.read(splitBrain); err != nil || v != "" {
			t.Fatalf("%s on B: %q %v, want absent", splitBrain, v, err)
		}
		check(dir4)
	})

	step("step 5: planned swap-back (B demoted, A promoted, B and C re-pointed to A)", func() {
		l.write(b, "before-swap-back", 3)
		expectTopology(t, "before the swap-back", l, clusterID, b, map[string]*cluster{"dr-1": a, "dr-2": c})
		tf.apply(t, dir3, map[string]any{"address": recB.URL, "cluster_id": clusterID, "successor_address": recA.URL, "token": rootToken})
		tf.run(t, dir3, "destroy", "-auto-approve", "-input=false", "-no-color")
		expectMode(t, b, client.ModeSecondary, "idle", clusterID)
		tf.apply(t, dir5, map[string]any{
			"original_primary_address": recA.URL, "unseal_keys": keys, "token": rootToken,
			"demoted_primary_address": recB.URL, "secondary2_address": recC.URL,
		})
		dirs = append(dirs, dir5)
		outs := tf.outputs(t, dir5)
		if mode := outputString(t, outs, "mode"); mode != client.ModePrimary {
			t.Fatalf("output mode = %s, want primary", mode)
		}
		expectStates(t, outs, "dr-1", "dr-2")
		expectTopology(t, "step 5", l, clusterID, a, map[string]*cluster{"dr-1": b, "dr-2": c})
		l.write(a, "after-swap-back", 3)
		expectTopology(t, "after the swap-back", l, clusterID, a, map[string]*cluster{"dr-1": b, "dr-2": c})
		check(dir5)
	})
	secrets := secretsSeen(t, a.key, recs)
	t.Logf("whole workflow with %s: %s; %d secrets handed to the provider, none in %d states", tf.name,
		time.Since(begin).Round(time.Millisecond), len(secrets), len(dirs))
}

// secretsSeen is every secret of the run the test knows: the DR set's key
// share and every activation and DR operation token the recorders saw.
func secretsSeen(t *testing.T, keyShare string, recs []*testserver.Recorder) map[string]string {
	t.Helper()
	m := map[string]string{"key share": keyShare}
	for i, r := range recs {
		for j, tok := range r.ActivationTokens() {
			m[fmt.Sprintf("activation token #%d via the recorder of cluster %c", j+1, 'A'+i)] = tok
		}
		for j, tok := range r.OperationTokens() {
			m[fmt.Sprintf("DR operation token #%d via the recorder of cluster %c", j+1, 'A'+i)] = tok
		}
		for j, tok := range r.RootTokens() {
			m[fmt.Sprintf("root token #%d via the recorder of cluster %c", j+1, 'A'+i)] = tok
		}
	}
	return m
}

// scanStates fails the test if a secret appears in `terraform show -json`
// or in a raw state file (terraform.tfstate, its backup) of any dir.
func scanStates(t *testing.T, tf *cli, dirs []string, secrets map[string]string) {
	t.Helper()
	for _, dir := range dirs {
		files := map[string]string{"terraform show -json": tf.run(t, dir, "show", "-json", "-no-color")}
		matches, err := filepath.Glob(filepath.Join(dir, "*.tfstate*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range matches {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files[filepath.Base(p)] = string(raw)
		}
		if _, ok := files["terraform.tfstate"]; !ok || !strings.Contains(files["terraform.tfstate"], "vaultrepl_") {
			t.Fatalf("%s: no raw state file with vaultrepl resources (found %d files)", filepath.Base(dir), len(matches))
		}
		for what, secret := range secrets {
			if len(secret) < 8 {
				t.Fatalf("%s: %d characters, too short to scan for", what, len(secret))
			}
			for name, content := range files {
				if strings.Contains(content, secret) {
					t.Errorf("%s: the %s is in %s", filepath.Base(dir), what, name)
				}
			}
		}
	}
	t.Logf("scanned %d states (show -json and raw files) for %d secrets: none found", len(dirs), len(secrets))
}
