package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
	"github.com/vaultrepl/terraform-provider-vaultrepl/internal/testserver"
)

// EnvCLI names the CLI the tests drive: "terraform" (default), "tofu", or a
// path to either.
const EnvCLI = "VAULTREPL_TF_CLI"

var serverBuilder testserver.Builder

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatal("not inside the module")
	}
	return filepath.Dir(gomod)
}

// --- the CLI -----------------------------------------------------------------

// cli runs terraform or tofu with a CLI configuration whose dev_overrides
// load the provider binary built by buildProvider.
type cli struct {
	path    string
	name    string // "terraform" or "tofu", for messages
	version string
	env     []string
	// pluginDir holds the provider binary that dev_overrides point at.
	pluginDir string

	mu      sync.Mutex
	secrets []string // must never appear in the CLI's output
}

// newCLI finds the CLI named by VAULTREPL_TF_CLI, builds the provider and
// writes the CLI configuration.
func newCLI(t *testing.T, root string) *cli {
	t.Helper()
	pluginDir := filepath.Join(t.TempDir(), "plugins")
	buildProvider(t, root, pluginDir)
	return newCLIFor(t, pluginDir, "vaultrepl/vaultrepl")
}

// newCLIFor finds the CLI named by VAULTREPL_TF_CLI and writes a CLI
// configuration whose dev_overrides load provider (namespace/type) from the
// binary in pluginDir, under both registries' addresses.
func newCLIFor(t *testing.T, pluginDir, provider string) *cli {
	t.Helper()
	want := os.Getenv(EnvCLI)
	if want == "" {
		want = "terraform"
	}
	path, err := exec.LookPath(want)
	if err != nil {
		t.Fatalf("%s=%q: %v (make test-e2e ensures terraform and make test-tofu builds tofu into ./bin)", EnvCLI, want, err)
	}
	c := &cli{path: path, name: filepath.Base(path)}

	// Both registries' addresses: Terraform expands "vaultrepl/vaultrepl" to
	// registry.terraform.io, OpenTofu to registry.opentofu.org.
	cfg := filepath.Join(t.TempDir(), "cli.tfrc")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `provider_installation {
  dev_overrides {
    "registry.terraform.io/%[2]s" = %[1]q
    "registry.opentofu.org/%[2]s" = %[1]q
  }
  direct {}
}
`, pluginDir, provider), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TF_") || strings.HasPrefix(name, "TOFU_") || strings.HasPrefix(name, "VAULT_") {
			continue // the outer environment must not steer the CLI or the provider
		}
		c.env = append(c.env, kv)
	}
	c.env = append(c.env, "TF_CLI_CONFIG_FILE="+cfg, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_INPUT=0")
	if level := os.Getenv("VAULTREPL_E2E_TF_LOG"); level != "" {
		c.env = append(c.env, "TF_LOG="+level, "TF_LOG_PATH="+filepath.Join(os.TempDir(), "vaultrepl-e2e-"+c.name+".log"))
	}
	c.pluginDir = pluginDir
	cmd := exec.Command(path, "version")
	cmd.Env = c.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", path, err, out)
	}
	c.version = strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0]
	return c
}

// buildProvider builds the provider binary into dir, as a user's `go build`
// or `make build` would.
func buildProvider(t *testing.T, root, dir string) {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-X main.version=e2e",
		"-o", filepath.Join(dir, "terraform-provider-vaultrepl"), ".")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the provider: %v\n%s", err, out)
	}
	t.Logf("built the provider binary in %s", time.Since(start).Round(time.Millisecond))
}

func (c *cli) addSecret(s ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range s {
		if v != "" {
			c.secrets = append(c.secrets, v)
		}
	}
}

// run runs the CLI in dir and fails the test if it fails or prints a
// secret. It returns what the CLI wrote to stdout.
func (c *cli) run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	stdout, all, err := c.try(t, dir, args...)
	if err != nil {
		t.Fatalf("%s %s in %s: %v\n%s", c.name, strings.Join(args, " "), filepath.Base(dir), err, all)
	}
	return stdout
}

// try runs the CLI in dir and returns its stdout, stdout and stderr
// interleaved, and its error.
func (c *cli) try(t *testing.T, dir string, args ...string) (stdout, all string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, c.path, append([]string{"-chdir=" + dir}, args...)...)
	cmd.Env = c.env
	var out, both testserver.LockedBuffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&out, &both), &both
	err = cmd.Run()
	stdout, all = out.String(), both.String()
	t.Logf("%s %s in %s: %s", c.name, args[0], filepath.Base(dir), time.Since(start).Round(time.Millisecond))
	c.mu.Lock()
	for _, s := range c.secrets {
		if strings.Contains(all, s) {
			t.Errorf("%s %s printed a secret (%d characters starting %q)", c.name, args[0], len(s), s[:min(4, len(s))])
		}
	}
	c.mu.Unlock()
	return stdout, all, err
}

// apply writes vars to terraform.tfvars.json in dir (which every command
// there then loads) and runs apply.
func (c *cli) apply(t *testing.T, dir string, vars map[string]any) string {
	t.Helper()
	c.writeVars(t, dir, vars)
	_, all, err := c.try(t, dir, "apply", "-auto-approve", "-input=false", "-no-color")
	if err != nil {
		t.Fatalf("%s apply in %s: %v\n%s", c.name, filepath.Base(dir), err, all)
	}
	// The CLI says which binary it loaded: the one just built, not one from
	// a registry or a plugin cache.
	if !strings.Contains(all, "development overrides") || !strings.Contains(all, c.pluginDir) {
		t.Fatalf("%s apply in %s does not report the dev_overrides provider in %s:\n%s", c.name, filepath.Base(dir), c.pluginDir, all)
	}
	return all
}

// planFails runs plan with vars and expects it to fail saying want.
func (c *cli) planFails(t *testing.T, dir string, vars map[string]any, want string) {
	t.Helper()
	c.writeVars(t, dir, vars)
	_, all, err := c.try(t, dir, "plan", "-input=false", "-no-color")
	// The CLI wraps long messages: compare with whitespace collapsed.
	if err == nil || !strings.Contains(strings.Join(strings.Fields(all), " "), want) {
		t.Fatalf("%s plan in %s: error %v, want a failure saying %q:\n%s", c.name, filepath.Base(dir), err, want, all)
	}
}

func (c *cli) writeVars(t *testing.T, dir string, vars map[string]any) {
	t.Helper()
	raw, err := json.MarshalIndent(vars, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "terraform.tfvars.json"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// outputs reads the root module's outputs.
func (c *cli) outputs(t *testing.T, dir string) map[string]any {
	t.Helper()
	raw := c.run(t, dir, "output", "-json", "-no-color")
	var outs map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal([]byte(raw), &outs); err != nil {
		t.Fatalf("%s output -json: %v\n%s", c.name, err, raw)
	}
	vals := map[string]any{}
	for k, v := range outs {
		vals[k] = v.Value
	}
	return vals
}

// stepDir copies examples/failover/<step> into a fresh directory: the test
// runs the examples exactly as they are committed.
func stepDir(t *testing.T, root, step string) string {
	t.Helper()
	return exampleStepDir(t, root, "failover", step)
}

// exampleStepDir copies examples/<example>/<step> into a fresh directory.
func exampleStepDir(t *testing.T, root, example, step string) string {
	t.Helper()
	src := filepath.Join(root, "examples", example, step)
	dst := filepath.Join(t.TempDir(), step)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".tf") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("no .tf files in %s", src)
	}
	return dst
}

// --- the clusters --------------------------------------------------------------

var unsealKeyRe = regexp.MustCompile(`Unseal Key: ([0-9a-f]+)`)

const rootToken = "root"

// cluster is one live vaultrepl-server process.
type cluster struct {
	t    *testing.T
	name string
	bin  string
	srv  *testserver.Server
	root *client.Client // token "root": every cluster's dev root token, and the DR set's once replicated
	anon *client.Client
	key  string // the dev server's only unseal key share
}

func startCluster(t *testing.T, name string) *cluster {
	t.Helper()
	bin := serverBuilder.Binary(t)
	srv := testserver.Start(t, bin, testserver.Options{
		Args: []string{"-dev", "-dev-root-token-id", rootToken, "-heartbeat-interval", "200ms"},
	})
	c := &cluster{t: t, name: name, bin: bin, srv: srv}
	testserver.Eventually(t, name+" prints its unseal key", 10*time.Second, func() (bool, string) {
		if m := unsealKeyRe.FindStringSubmatch(srv.Output()); m != nil {
			c.key = m[1]
			return true, ""
		}
		return false, "no unseal key in the dev banner yet"
	})
	c.root, c.anon = c.client(rootToken), c.client("")
	t.Cleanup(func() {
		if t.Failed() {
			out := c.srv.Output()
			if len(out) > 8000 {
				out = out[len(out)-8000:]
			}
			t.Logf("== cluster %s (%s) output (tail):\n%s", c.name, c.srv.Addr, out)
		}
	})
	return c
}

func (c *cluster) client(token string) *client.Client {
	c.t.Helper()
	cl, err := client.New(client.Config{Address: c.srv.Addr, Token: token, MaxRetries: 2,
		RetryWaitMin: 50 * time.Millisecond, RetryWaitMax: 200 * time.Millisecond, Timeout: 10 * time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

func (c *cluster) addr() string { return c.srv.Addr }

func (c *cluster) String() string { return c.name + " (" + c.srv.Addr + ")" }

func (c *cluster) status() *client.DRStatus {
	c.t.Helper()
	st, err := c.anon.DRStatus(context.Background())
	if err != nil {
		c.t.Fatalf("DR status of %s: %v", c, err)
	}
	return st
}

// kill loses the cluster: SIGKILL, nothing flushed beyond what SQLite made
// durable.
func (c *cluster) kill() { c.srv.Kill() }

// returnSealed starts the cluster again on the same addresses and database,
// without -dev (a dev server refuses an initialised database), as an
// operator restarting the lost machine would; it comes back sealed.
func (c *cluster) returnSealed() {
	c.t.Helper()
	c.srv.Kill()
	args := []string{
		"-listen-address", strings.TrimPrefix(c.srv.Addr, "http://"),
		"-cluster-listen-address", c.srv.Cluster,
		"-db", c.srv.DB,
		"-log-level", "debug",
		"-heartbeat-interval", "200ms",
	}
	old := c.srv
	c.srv = testserver.StartArgs(c.t, c.bin, old.Addr, args...)
	c.srv.Cluster, c.srv.DB = old.Cluster, old.DB
}

func (c *cluster) unseal(key string) {
	c.t.Helper()
	st, err := c.anon.Unseal(context.Background(), key)
	if err != nil {
		c.t.Fatalf("unseal %s: %v", c, err)
	}
	if st.Sealed {
		c.t.Fatalf("%s still sealed after its key share: %+v", c, st)
	}
}

// opToken generates a DR operation token on c with the DR set's key shares,
// as `vault operator generate-root -dr-token` does.
func (c *cluster) opToken(shares ...string) string {
	c.t.Helper()
	tok, err := c.anon.GenerateDROperationToken(context.Background(), shares)
	if err != nil {
		c.t.Fatalf("generate a DR operation token on %s: %v", c, err)
	}
	return tok
}

func (c *cluster) write(path, value string) error {
	_, err := c.root.Write(context.Background(), path, map[string]any{"v": value})
	return err
}

// read returns the secret's value, "" when it does not exist.
func (c *cluster) read(path string) (string, error) {
	s, err := c.root.Read(context.Background(), path)
	if err != nil || s == nil {
		return "", err
	}
	v, _ := s.Data["v"].(string)
	return v, nil
}

// --- what the servers must say ---------------------------------------------------

// ledger is every secret a primary acknowledged, by path: KV v1 secrets on
// secret/ and two-version KV v2 secrets on the kvV2Mount.
type ledger struct {
	t      *testing.T
	values map[string]string
	order  []string
	n      int
}

// kvV2Mount is the KV version 2 mount the test enables on the first primary;
// the mount table replicates like everything else.
const kvV2Mount = "kv"

func (c *cluster) enableKVv2() {
	c.t.Helper()
	if _, err := c.root.Write(context.Background(), "sys/mounts/"+kvV2Mount, map[string]any{"type": "kv", "options": map[string]any{"version": "2"}}); err != nil {
		c.t.Fatalf("enable a KV v2 mount on %s: %v", c, err)
	}
}

// writeKVv2 stores value as version 2 of a KV v2 secret, with check-and-set
// (version 1 holds value+" (v1)").
func (c *cluster) writeKVv2(name, value string) error {
	for cas, v := range []string{value + " (v1)", value} {
		body := map[string]any{"data": map[string]any{"v": v}, "options": map[string]any{"cas": cas}}
		if _, err := c.root.Write(context.Background(), kvV2Mount+"/data/"+name, body); err != nil {
			return err
		}
	}
	return nil
}

// readKVv2 returns the current value (data.v) of a KV v2 secret and its
// metadata's current_version and number of versions kept ("", 0, 0 when
// absent).
func (c *cluster) readKVv2(name string) (value string, current float64, versions int, err error) {
	data, current, versions, err := c.readKVv2Data(kvV2Mount, name)
	value, _ = data["v"].(string)
	return value, current, versions, err
}

// readKVv2Data returns the current data of a KV v2 secret on mount, its
// current_version and how many versions its metadata lists.
func (c *cluster) readKVv2Data(mount, name string) (data map[string]any, current float64, versions int, err error) {
	s, err := c.root.Read(context.Background(), mount+"/data/"+name)
	if err != nil || s == nil {
		return nil, 0, 0, err
	}
	data, _ = s.Data["data"].(map[string]any)
	m, err := c.root.Read(context.Background(), mount+"/metadata/"+name)
	if err != nil || m == nil {
		return data, 0, 0, err
	}
	current, _ = m.Data["current_version"].(float64)
	vs, _ := m.Data["versions"].(map[string]any)
	return data, current, len(vs), nil
}

// write stores count secrets on the current primary; each one the primary
// acknowledges joins the ledger.
func (l *ledger) write(on *cluster, label string, count int) {
	l.t.Helper()
	for range count {
		l.n++
		path := fmt.Sprintf("secret/e2e/%s-%d", label, l.n)
		value := fmt.Sprintf("%s-%d@%d", label, l.n, time.Now().UnixNano())
		if err := on.write(path, value); err != nil {
			l.t.Fatalf("write %s on %s: %v", path, on, err)
		}
		l.values[path] = value
		l.order = append(l.order, path)
		name := fmt.Sprintf("e2e/%s-%d", label, l.n)
		if err := on.writeKVv2(name, value); err != nil {
			l.t.Fatalf("write KV v2 secret %s on %s: %v", name, on, err)
		}
		l.values[kvV2Mount+"/"+name] = value
		l.order = append(l.order, kvV2Mount+"/"+name)
	}
}

// heldBy reads every acknowledged secret on c (a primary).
func (l *ledger) heldBy(c *cluster) {
	l.t.Helper()
	for _, path := range l.order {
		if name, ok := strings.CutPrefix(path, kvV2Mount+"/"); ok {
			got, current, versions, err := c.readKVv2(name)
			if err != nil || got != l.values[path] || current != 2 || versions != 2 {
				l.t.Fatalf("acknowledged KV v2 secret %s on %s: read %q (current_version %v, %d versions), %v; want %q as version 2 of 2",
					path, c, got, current, versions, err, l.values[path])
			}
			continue
		}
		got, err := c.read(path)
		if err != nil {
			l.t.Fatalf("read %s on %s: %v", path, c, err)
		}
		if got != l.values[path] {
			l.t.Fatalf("acknowledged secret %s lost on %s: read %q, want %q", path, c, got, l.values[path])
		}
	}
}

// expectTopology waits until primary is the primary of DR set clusterID
// with exactly the given secondaries (by secondary id), each streaming WALs
// from it with its merkle root and last WAL, then reads every acknowledged
// secret on the primary. Equal merkle roots prove the secondaries hold
// exactly the primary's data, which DR secondaries refuse to serve.
func expectTopology(t *testing.T, phase string, l *ledger, clusterID string, primary *cluster, secondaries map[string]*cluster) {
	t.Helper()
	ids := make([]string, 0, len(secondaries))
	for id := range secondaries {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var ps *client.DRStatus
	testserver.Eventually(t, phase+": topology", 60*time.Second, func() (bool, string) {
		ps = primary.status()
		if ps.Mode != client.ModePrimary || ps.ClusterID != clusterID {
			return false, fmt.Sprintf("%s: mode %s cluster_id %s, want primary of %s", primary, ps.Mode, ps.ClusterID, clusterID)
		}
		known := slices.Sorted(slices.Values(ps.KnownSecondaries))
		if !slices.Equal(known, ids) {
			return false, fmt.Sprintf("%s: known_secondaries %v, want %v", primary, known, ids)
		}
		for _, id := range ids {
			s := secondaries[id]
			ss := s.status()
			switch {
			case ss.Mode != client.ModeSecondary || ss.ClusterID != clusterID || ss.SecondaryID != id:
				return false, fmt.Sprintf("%s: mode %s cluster_id %s secondary_id %s, want secondary %s of %s", s, ss.Mode, ss.ClusterID, ss.SecondaryID, id, clusterID)
			case ss.PrimaryClusterAddr != ps.PrimaryClusterAddr:
				return false, fmt.Sprintf("%s follows %s, want %s (%s)", s, ss.PrimaryClusterAddr, primary, ps.PrimaryClusterAddr)
			case ss.State != client.StateStreamWALs || ss.MerkleRoot != ps.MerkleRoot || ss.LastRemoteWAL != ps.LastWAL:
				return false, fmt.Sprintf("%s: state %s merkle_root %s last_remote_wal %d; primary %s merkle_root %s last_wal %d",
					s, ss.State, ss.MerkleRoot, ss.LastRemoteWAL, primary, ps.MerkleRoot, ps.LastWAL)
			}
			connected := false
			for _, p := range ps.Secondaries {
				connected = connected || (p.NodeID == id && p.ConnectionStatus == "connected")
			}
			if !connected {
				return false, fmt.Sprintf("%s does not see %s connected: %+v", primary, id, ps.Secondaries)
			}
		}
		return true, ""
	})
	parts := []string{fmt.Sprintf("primary %s last_wal %d merkle_root %.12s", primary.name, ps.LastWAL, ps.MerkleRoot)}
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("%s=%s in sync", id, secondaries[id].name))
	}
	if l == nil {
		// A primary whose tokens are not "root" (a performance
		// secondary): the caller reads the ledger with its own token.
		t.Logf("%s: %s", phase, strings.Join(parts, ", "))
		return
	}
	l.heldBy(primary)
	t.Logf("%s: %s; %d acknowledged secrets read on %s", phase, strings.Join(parts, ", "), len(l.order), primary.name)
}

// expectMode checks one cluster's DR mode and state.
func expectMode(t *testing.T, c *cluster, mode, state, clusterID string) {
	t.Helper()
	st := c.status()
	if st.Mode != mode || (state != "" && st.State != state) || st.ClusterID != clusterID {
		t.Fatalf("%s: mode %s state %s cluster_id %s, want mode %s state %s cluster_id %s", c, st.Mode, st.State, st.ClusterID, mode, state, clusterID)
	}
}

// outputString reads a string output.
func outputString(t *testing.T, outs map[string]any, name string) string {
	t.Helper()
	s, ok := outs[name].(string)
	if !ok {
		t.Fatalf("output %s is %T %v, want a string", name, outs[name], outs[name])
	}
	return s
}

// expectStates checks a secondary_states output: every id streams WALs.
func expectStates(t *testing.T, outs map[string]any, ids ...string) {
	t.Helper()
	states, ok := outs["secondary_states"].(map[string]any)
	if !ok {
		t.Fatalf("output secondary_states is %T %v", outs["secondary_states"], outs["secondary_states"])
	}
	got := slices.Sorted(maps.Keys(states))
	if !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
		t.Fatalf("output secondary_states has %v, want %v", got, ids)
	}
	for id, st := range states {
		if st != client.StateStreamWALs {
			t.Fatalf("output secondary_states[%s] = %v, want %s", id, st, client.StateStreamWALs)
		}
	}
}
