// Command demo is `make demo`: it starts two clusters on SQLite, applies
// examples/dr-topology with the freshly built provider, replicates a KV v1
// secret and a KV v2 secret with two versions, then runs a failover drill
// (promotion with the primary's unseal key) and reads them on the promoted
// cluster, both KV v2 versions included. It stops everything it started.
//
// It needs only the binaries in ./bin (make build) and a terraform on PATH
// (the GNUmakefile ensures one).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		stop()
		os.Exit(1)
	}
}

func say(format string, args ...any) { fmt.Printf("\n\033[1m==> "+format+"\033[0m\n", args...) }

func run(ctx context.Context) error {
	start := time.Now()
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	bin := filepath.Join(root, "bin")
	work, err := os.MkdirTemp("", "vaultrepl-demo-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()

	say("Starting two clusters on embedded SQLite (dev mode, root token \"root\")")
	a, err := startCluster(ctx, bin, work, "a")
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := startCluster(ctx, bin, work, "b")
	if err != nil {
		return err
	}
	defer b.stop()
	fmt.Printf("    cluster A: %s\n    cluster B: %s\n", a.addr, b.addr)

	// The built provider, through a CLI config with dev_overrides.
	cliConfig := filepath.Join(work, "cli.tfrc")
	if err := os.WriteFile(cliConfig, fmt.Appendf(nil, `provider_installation {
  dev_overrides { "registry.terraform.io/vaultrepl/vaultrepl" = %q }
  direct {}
}
`, bin), 0o600); err != nil {
		return err
	}
	tf := terraform{env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")}

	topology := filepath.Join(work, "dr-topology")
	if err := copyDir(filepath.Join(root, "examples", "dr-topology"), topology); err != nil {
		return err
	}
	say("terraform apply examples/dr-topology: A becomes the DR primary, B its secondary (B's data is wiped)")
	if err := tf.apply(ctx, topology, "-var", "primary_address="+a.addr, "-var", "secondary_address="+b.addr, "-var", "token=root"); err != nil {
		return err
	}

	say("Writing secret/app/db (KV v1) and two versions of kv/data/app/db (a KV v2 mount) on the primary")
	if err := request(ctx, http.MethodPut, a.addr+"/v1/secret/app/db", `{"password":"correct-horse"}`, nil); err != nil {
		return err
	}
	if err := request(ctx, http.MethodPost, a.addr+"/v1/sys/mounts/kv", `{"type":"kv","options":{"version":"2"}}`, nil); err != nil {
		return err
	}
	for _, pw := range []string{"battery-staple", "correct-horse-2"} {
		if err := request(ctx, http.MethodPut, a.addr+"/v1/kv/data/app/db", `{"data":{"password":"`+pw+`"}}`, nil); err != nil {
			return err
		}
	}

	say("DR status of both clusters (the secondary reaches the primary's merkle root)")
	var sa, sb map[string]any
	deadline := time.Now().Add(30 * time.Second)
	for {
		if sa, err = drStatus(ctx, a.addr); err != nil {
			return err
		}
		if sb, err = drStatus(ctx, b.addr); err != nil {
			return err
		}
		if sa["merkle_root"] == sb["merkle_root"] && sb["state"] == "stream-wals" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("secondary did not catch up: primary root %v, secondary root %v state %v", sa["merkle_root"], sb["merkle_root"], sb["state"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	printStatus("A", sa)
	printStatus("B", sb)

	say("Failover drill: cluster A is lost (SIGKILL); terraform promotes B with A's unseal key share")
	a.stop()
	drill := filepath.Join(work, "promote")
	if err := copyDir(filepath.Join(root, "examples", "failover", "2-promote-secondary"), drill); err != nil {
		return err
	}
	keys, _ := json.Marshal([]string{a.unsealKey})
	if err := tf.apply(ctx, drill, "-var", "address="+b.addr, "-var", "token=root", "-var", "unseal_keys="+string(keys)); err != nil {
		return err
	}

	say("The promoted cluster B serves the secrets written on A (KV v1, and both KV v2 versions)")
	if sb, err = drStatus(ctx, b.addr); err != nil {
		return err
	}
	printStatus("B", sb)
	var secret struct {
		Data map[string]any `json:"data"`
	}
	if err := request(ctx, http.MethodGet, b.addr+"/v1/secret/app/db", "", &secret); err != nil {
		return err
	}
	fmt.Printf("    GET %s/v1/secret/app/db -> %v\n", b.addr, secret.Data)
	if secret.Data["password"] != "correct-horse" {
		return errors.New("the promoted cluster does not hold the secret")
	}
	if err := checkKVv2(ctx, b.addr); err != nil {
		return err
	}
	say("Demo complete in %s; stopping the clusters", time.Since(start).Round(time.Second))
	return nil
}

// checkKVv2 reads both versions of kv/data/app/db on addr.
func checkKVv2(ctx context.Context, addr string) error {
	for _, c := range []struct{ version, want string }{{"", "correct-horse-2"}, {"1", "battery-staple"}} {
		version, want := c.version, c.want
		var v2 struct {
			Data struct {
				Data     map[string]any `json:"data"`
				Metadata map[string]any `json:"metadata"`
			} `json:"data"`
		}
		url := addr + "/v1/kv/data/app/db"
		if version != "" {
			url += "?version=" + version
		}
		if err := request(ctx, http.MethodGet, url, "", &v2); err != nil {
			return err
		}
		fmt.Printf("    GET %s -> %v (version %v)\n", url, v2.Data.Data, v2.Data.Metadata["version"])
		if v2.Data.Data["password"] != want {
			return fmt.Errorf("the promoted cluster does not hold %s", url)
		}
	}
	return nil
}

// cluster is one vaultrepl-server process.
type cluster struct {
	addr      string
	unsealKey string
	cmd       *exec.Cmd
	done      chan struct{}
}

// freePorts returns two distinct free loopback ports; the listeners are
// held together so the kernel cannot hand out the same port twice.
func freePorts() (int, int, error) {
	var ports [2]int
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		defer func() { _ = ln.Close() }()
		addr, ok := ln.Addr().(*net.TCPAddr)
		if !ok {
			return 0, 0, errors.New("not a TCP address")
		}
		ports[i] = addr.Port
	}
	return ports[0], ports[1], nil
}

func startCluster(ctx context.Context, bin, work, name string) (*cluster, error) {
	api, clusterPort, err := freePorts()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(work, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "vaultrepl-server"), "-dev", "-dev-root-token-id", "root",
		"-listen-address", fmt.Sprintf("127.0.0.1:%d", api), "-cluster-listen-address", fmt.Sprintf("127.0.0.1:%d", clusterPort),
		"-db", filepath.Join(work, name+".db"), "-heartbeat-interval", "250ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start vaultrepl-server (run make build first): %w", err)
	}
	c := &cluster{addr: fmt.Sprintf("http://127.0.0.1:%d", api), cmd: cmd, done: make(chan struct{})}
	banner := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if key, ok := strings.CutPrefix(line, "Unseal Key: "); ok {
				banner <- key
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(c.done) }()
	select {
	case c.unsealKey = <-banner:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("cluster %s exited at start-up; see its log", name)
	case <-time.After(20 * time.Second):
		c.stop()
		return nil, fmt.Errorf("cluster %s did not start within 20s", name)
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// stop kills the process (once) and waits for it.
func (c *cluster) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Kill()
	<-c.done
}

type terraform struct{ env []string }

func (t terraform) apply(ctx context.Context, dir string, vars ...string) error {
	// No init: with dev_overrides the built provider needs none, and init
	// would ask the registry for it.
	for _, args := range [][]string{
		append([]string{"-chdir=" + dir, "apply", "-auto-approve", "-input=false", "-no-color"}, vars...),
	} {
		cmd := exec.CommandContext(ctx, "terraform", args...)
		cmd.Env = t.env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if args[1] == "apply" || err != nil {
			for _, line := range strings.Split(out.String(), "\n") {
				if keepLine(line) || err != nil {
					fmt.Println("    " + line)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("terraform %s in %s: %w", args[1], filepath.Base(dir), err)
		}
	}
	return nil
}

// keepLine keeps the lines of an apply that tell the story.
func keepLine(line string) bool {
	for _, p := range []string{"vaultrepl_", "Apply complete", "Warning", "cluster_id", "secondary_state", "mode ="} {
		if strings.Contains(line, p) {
			return true
		}
	}
	return false
}

func request(ctx context.Context, method, url, body string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", "root")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func drStatus(ctx context.Context, addr string) (map[string]any, error) {
	var st struct {
		Data map[string]any `json:"data"`
	}
	err := request(ctx, http.MethodGet, addr+"/v1/sys/replication/dr/status", "", &st)
	return st.Data, err
}

func printStatus(name string, st map[string]any) {
	wal := st["last_wal"]
	if wal == nil {
		wal = st["last_remote_wal"]
	}
	fmt.Printf("    %s: mode=%-9v state=%-11v merkle_root=%v wal=%v\n", name, st["mode"], st["state"], st["merkle_root"], wal)
}

func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".tf") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}
