package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The vault section runs the KV write load of the kvwrite section against a
// HashiCorp Vault binary the user already has (-vault-bin or $VAULT_BIN):
// single node, integrated raft storage, KV v1 at secret/, its process's CPU
// measured the same way. The project neither builds nor ships Vault, and no
// test depends on this section: without a binary it reports that it was
// skipped.

// vaultResult is the peer's KV write measurement.
type vaultResult struct {
	Binary        string  `json:"binary"`
	Version       string  `json:"version"`
	Clients       int     `json:"clients"`
	Writes        int     `json:"writes"`
	WritesPerS    float64 `json:"writes_per_s"`
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
	Errors        int     `json:"errors"`
	ServerCPUS    float64 `json:"server_cpu_s"`
	CPUPerWriteUS float64 `json:"server_cpu_per_write_us"`
	RatioToRaw    float64 `json:"ratio_to_raw"` // over the raw SQLite FULL floor of the same run
}

// vaultActiveLimit bounds init, unseal and the raft leader election.
const vaultActiveLimit = 60 * time.Second

func vaultSection() section {
	return section{
		id:   "vault",
		name: fmt.Sprintf("peer: HashiCorp Vault, integrated raft, KV v1, %d clients (-vault-bin / $VAULT_BIN)", headlineClients),
		run: func(ctx context.Context, o options, r *report) (int, error) {
			if o.vaultBin == "" {
				_, _ = fmt.Fprintln(o.stderr, "vaultrepl-bench: no -vault-bin / $VAULT_BIN: the Vault peer is skipped")
				return 0, nil
			}
			res, err := measureVault(ctx, o)
			if err != nil {
				return 0, err
			}
			for _, raw := range r.RawSQLite {
				if raw.Sync == "full" && raw.RowsPerS > 0 {
					res.RatioToRaw = res.WritesPerS / raw.RowsPerS
				}
			}
			r.Vault = &res
			return res.Errors, nil
		},
		table: func(w io.Writer, r *report) {
			v := r.Vault
			if v == nil {
				_, _ = fmt.Fprintln(w, "skipped: no Vault binary given\t")
				return
			}
			_, _ = fmt.Fprintln(w, "server\twrites/s\tp50 ms\tp99 ms\terrors\tCPU/write us\tx raw FULL\t")
			if kv, ok := kvRow(r, "full", headlineClients); ok {
				_, _ = fmt.Fprintf(w, "vaultrepl (FULL)\t%.0f\t%.2f\t%.2f\t%d\t%.1f\t%.2f\t\n", kv.WritesPerS, kv.P50MS, kv.P99MS, kv.Errors, kv.CPUPerWriteUS, kv.RatioToRaw)
			}
			_, _ = fmt.Fprintf(w, "%s\t%.0f\t%.2f\t%.2f\t%d\t%.1f\t%.2f\t\n", v.Version, v.WritesPerS, v.P50MS, v.P99MS, v.Errors, v.CPUPerWriteUS, v.RatioToRaw)
		},
	}
}

// measureVault starts Vault on a fresh raft folder, initialises and
// unseals it, mounts KV v1 at secret/ and runs the load.
func measureVault(ctx context.Context, o options) (res vaultResult, err error) {
	dir, err := os.MkdirTemp("", "vaultrepl-bench-vault-")
	if err != nil {
		return res, fmt.Errorf("create temp dir: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove temp dir: %w", rmErr)
		}
	}()
	p, err := startVault(ctx, o, dir)
	if err != nil {
		return res, err
	}
	defer func() {
		if sErr := p.stop(); sErr != nil && err == nil {
			err = sErr
		}
	}()
	token, err := vaultInitUnseal(ctx, p)
	if err != nil {
		return res, err
	}
	l, err := runLoad(ctx, o, loadSpec{
		apiAddr: p.apiAddr, token: token, prefix: "secret/bench/",
		clients: headlineClients, duration: o.duration, pid: p.cmd.Process.Pid,
		label: "vault",
	})
	if err != nil {
		return res, err
	}
	res = vaultResult{Binary: o.vaultBin, Version: vaultVersion(ctx, o.vaultBin), Clients: headlineClients, Errors: l.errors}
	res.Writes = l.writes()
	res.WritesPerS = float64(res.Writes) / l.elapsed.Seconds()
	res.P50MS = ms(percentile(l.latencies, 50))
	res.P99MS = ms(percentile(l.latencies, 99))
	res.ServerCPUS = l.serverCPU.Seconds()
	res.CPUPerWriteUS = cpuPerWrite(l)
	return res, nil
}

// startVault writes a single-node raft config on two free loopback ports
// and starts `vault server` with it.
func startVault(ctx context.Context, o options, dir string) (*serverProc, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	api := fmt.Sprintf("127.0.0.1:%d", ports[0])
	cluster := fmt.Sprintf("127.0.0.1:%d", ports[1])
	raftDir := filepath.Join(dir, "raft")
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return nil, err
	}
	hcl := fmt.Sprintf(`storage "raft" {
  path    = %q
  node_id = "bench"
}
listener "tcp" {
  address         = %q
  cluster_address = %q
  tls_disable     = true
}
api_addr      = "http://%s"
cluster_addr  = "https://%s"
disable_mlock = true
ui            = false
log_level     = "warn"
`, raftDir, api, cluster, api, cluster)
	cfg := filepath.Join(dir, "vault.hcl")
	if err := os.WriteFile(cfg, []byte(hcl), 0o600); err != nil {
		return nil, err
	}
	p := &serverProc{name: "vault", apiAddr: "http://" + api, out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(o.vaultBin, "server", "-config="+cfg)
	p.cmd.Env = append(os.Environ(), "VAULT_DISABLE_MLOCK=true", "CHECKPOINT_DISABLE=1")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start vault (%s): %w", o.vaultBin, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.done)
	}()
	if err := waitHealthy(ctx, p.apiAddr, p.done); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("vault: %w\n%s", err, tail(p.out.String(), 4000))
	}
	return p, nil
}

// vaultInitUnseal initialises Vault with one key share, unseals it, waits
// until it is the active node and mounts KV v1 at secret/. It returns the
// root token.
func vaultInitUnseal(ctx context.Context, p *serverProc) (string, error) {
	return initUnsealMount(ctx, p, vaultActiveLimit, true)
}

// initUnsealMount initialises a Vault-compatible server (Vault, or
// vaultrepl-server outside -dev) with one key share, unseals it, waits
// until it is active (mounting succeeds) for at most limit and mounts KV v1
// at secret/ (with mount false, checks that it is there: vaultrepl-server
// starts with it). It returns the root token.
func initUnsealMount(ctx context.Context, p *serverProc, limit time.Duration, mount bool) (string, error) {
	api := newAPIClient()
	defer api.close()
	var init struct {
		Keys      []string `json:"keys"`
		RootToken string   `json:"root_token"`
	}
	if err := api.call(ctx, http.MethodPut, p, "sys/init", "", map[string]any{"secret_shares": 1, "secret_threshold": 1}, &init); err != nil {
		return "", fmt.Errorf("%s init: %w", p.name, err)
	}
	if len(init.Keys) != 1 || init.RootToken == "" {
		return "", fmt.Errorf("%s init answered no key or root token", p.name)
	}
	if err := api.call(ctx, http.MethodPut, p, "sys/unseal", "", map[string]any{"key": init.Keys[0]}, nil); err != nil {
		return "", fmt.Errorf("%s unseal: %w", p.name, err)
	}
	// Vault's raft elects itself leader a moment after unseal; mounting
	// succeeds once the server is active.
	deadline := time.Now().Add(limit)
	for {
		var err error
		if mount {
			err = api.call(ctx, http.MethodPost, p, "sys/mounts/secret", init.RootToken,
				map[string]any{"type": "kv", "options": map[string]string{"version": "1"}}, nil)
		} else {
			err = checkKVv1(ctx, api, p, init.RootToken)
		}
		if err == nil {
			return init.RootToken, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s: mount KV v1 at secret/ within %s: %w", p.name, limit, err)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return "", err
		}
	}
}

// checkKVv1 reads sys/mounts and fails unless secret/ is KV version 1.
func checkKVv1(ctx context.Context, api *apiClient, p *serverProc, token string) error {
	var mounts struct {
		Data map[string]struct {
			Type    string            `json:"type"`
			Options map[string]string `json:"options"`
		} `json:"data"`
	}
	if err := api.call(ctx, http.MethodGet, p, "sys/mounts", token, nil, &mounts); err != nil {
		return err
	}
	m, ok := mounts.Data["secret/"]
	if !ok || m.Type != "kv" || m.Options["version"] == "2" {
		return fmt.Errorf("secret/ is not a KV v1 mount: %+v", m)
	}
	return nil
}

// vaultVersion is the first line of `vault version`, or "vault".
func vaultVersion(ctx context.Context, bin string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil || len(out) == 0 {
		return "vault"
	}
	var v string
	if _, err := fmt.Sscanf(string(out), "Vault %s", &v); err == nil {
		return "Vault " + v
	}
	return "vault"
}

// freePorts reserves n loopback ports by listening on port 0 and closing
// the listeners: a server started right after can bind them.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve a loopback port: %w", err)
		}
		lns = append(lns, ln)
		addr, ok := ln.Addr().(*net.TCPAddr)
		if !ok {
			return nil, fmt.Errorf("unexpected listener address %v", ln.Addr())
		}
		ports = append(ports, addr.Port)
	}
	return ports, nil
}
