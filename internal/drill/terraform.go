package main

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

//go:embed terraform/promote/*.tf
var promoteModule embed.FS

// terraformRun applies the drill's promotion module with the built
// provider (dev_overrides: no init, no registry).
type terraformRun struct {
	dir string
	env []string
}

func newTerraform(work, bin string) (*terraformRun, error) {
	cli := filepath.Join(work, "cli.tfrc")
	if err := os.WriteFile(cli, fmt.Appendf(nil, `provider_installation {
  dev_overrides { "registry.terraform.io/vaultrepl/vaultrepl" = %q }
  direct {}
}
`, bin), 0o600); err != nil {
		return nil, err
	}
	dir := filepath.Join(work, "promote")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	src, err := promoteModule.ReadFile("terraform/promote/main.tf")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), src, 0o600); err != nil {
		return nil, err
	}
	return &terraformRun{dir: dir, env: append(os.Environ(), "TF_CLI_CONFIG_FILE="+cli, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")}, nil
}

func (t *terraformRun) run(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "terraform", append([]string{"-chdir=" + t.dir}, args...)...)
	cmd.Env = t.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("terraform %s: %w\n%s%s", args[0], err, out.String(), errOut.String())
	}
	return out.Bytes(), nil
}

// vars are the module's variables; the secrets go through the environment
// (TF_VAR_*), never the command line.
func (t *terraformRun) vars(addr, unsealKey string) []string {
	keys, _ := json.Marshal([]string{unsealKey})
	t.env = append(t.env, "TF_VAR_token=root", "TF_VAR_unseal_keys="+string(keys))
	return []string{"-var", "address=" + addr}
}

// applyPromote promotes the secondary at addr.
func (t *terraformRun) applyPromote(ctx context.Context, addr, unsealKey string) error {
	_, err := t.run(ctx, append([]string{"apply", "-auto-approve", "-input=false", "-no-color"}, t.vars(addr, unsealKey)...)...)
	return err
}

// refreshOutputs refreshes the state (the provider reads the evidence the
// server recorded since) and returns the module's outputs.
func (t *terraformRun) refreshOutputs(ctx context.Context, addr, unsealKey string) (map[string]any, error) {
	if _, err := t.run(ctx, append([]string{"apply", "-refresh-only", "-auto-approve", "-input=false", "-no-color"}, t.vars(addr, unsealKey)...)...); err != nil {
		return nil, err
	}
	raw, err := t.run(ctx, "output", "-json")
	if err != nil {
		return nil, err
	}
	var outs map[string]struct {
		Value any `json:"value"`
	}
	if err := json.Unmarshal(raw, &outs); err != nil {
		return nil, fmt.Errorf("terraform output: %w", err)
	}
	values := map[string]any{}
	for k, v := range outs {
		values[k] = v.Value
	}
	return values, nil
}
