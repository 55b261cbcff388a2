package provider

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// providerData is what Configure hands to every resource and data source:
// the resolved configuration and a client built on first use. Configure
// itself never touches the network; the first resource or data source that
// needs the cluster checks that it is reachable, initialised and unsealed
// and turns any of those failures into one clear diagnostic.
type providerData struct {
	cfg *Config

	mu     sync.Mutex
	client *client.Client
	ready  bool
}

func newProviderData(cfg *Config) *providerData { return &providerData{cfg: cfg} }

// secretFieldKeys are log field names whose values are always masked.
var secretFieldKeys = []string{"token", "dr_operation_token", "key_shares", "key", "otp", "encoded_token"}

// withMasking masks the given secret values and the secret field keys in
// every log line written with the returned context.
func withMasking(ctx context.Context, secrets ...string) context.Context {
	ctx = tflog.MaskFieldValuesWithFieldKeys(ctx, secretFieldKeys...)
	var vals []string
	for _, s := range secrets {
		if len(s) >= 4 {
			vals = append(vals, s)
		}
	}
	if len(vals) > 0 {
		ctx = tflog.MaskLogStrings(ctx, vals...)
	}
	return ctx
}

// Client returns the client for the provider's cluster after making sure,
// once per provider run, that the cluster can answer: reachable,
// initialised and unsealed. Otherwise it returns one error diagnostic that
// names the address and what to do.
func (d *providerData) Client(ctx context.Context) (*client.Client, diag.Diagnostics) {
	var diags diag.Diagnostics
	d.mu.Lock()
	defer d.mu.Unlock()
	ctx = withMasking(ctx, d.cfg.Token)
	if d.client == nil {
		c, err := client.New(client.Config{
			Address:       d.cfg.Address,
			Token:         d.cfg.Token,
			CACertFile:    d.cfg.CACertFile,
			CACertDir:     d.cfg.CACertDir,
			SkipVerify:    d.cfg.SkipTLSVerify,
			TLSServerName: d.cfg.TLSServerName,
			MaxRetries:    d.cfg.MaxRetries,
			UserAgent:     "terraform-provider-vaultrepl/" + d.cfg.ProviderVersion,
			Logger:        newTFLogger(ctx),
		})
		if err != nil {
			diags.AddError("Invalid Provider Configuration",
				fmt.Sprintf("The provider could not set up a client for %s: %s.\n\n"+
					"Check ca_cert_file / ca_cert_dir (or VAULT_CACERT / VAULT_CAPATH) and the address.", d.cfg.Address, err))
			return nil, diags
		}
		d.client = c
	}
	if d.ready {
		return d.client, diags
	}
	if diags := checkReady(ctx, d.client); diags.HasError() {
		return nil, diags
	}
	d.ready = true
	return d.client, diags
}

// checkReady asks sys/health (unauthenticated, served in every state and
// on DR secondaries) whether the cluster can serve replication calls.
func checkReady(ctx context.Context, c *client.Client) diag.Diagnostics {
	var diags diag.Diagnostics
	h, err := c.Health(ctx, client.HealthOptions{
		StandbyOK: true, PerfStandbyOK: true, DRSecondaryCode: 200, SealedCode: 200, UninitCode: 200,
	})
	addr := c.Address()
	switch {
	case client.IsConnectionError(err):
		diags.AddError("Cannot Reach Vault Cluster",
			fmt.Sprintf("The provider could not reach the cluster at %s.\n\n"+
				"Check that the server is running and listening there, that the provider's address (or VAULT_ADDR) is right "+
				"including http:// versus https:// and the port, and that the TLS settings (ca_cert_file, ca_cert_dir, "+
				"skip_tls_verify, tls_server_name) match its certificate.\n\nOriginal Error: %s", addr, err))
	case err != nil:
		diags.AddError("Unexpected Answer From Vault Cluster",
			fmt.Sprintf("The server at %s did not answer sys/health like a Vault cluster. Check the provider's address.\n\nOriginal Error: %s", addr, err))
	case !h.Initialized:
		diags.AddError("Vault Cluster Not Initialized",
			fmt.Sprintf("The cluster at %s is not initialized, so it cannot take part in DR replication.\n\n"+
				"Initialize it (`vault operator init`, or PUT sys/init), unseal it, and run Terraform again.", addr))
	case h.Sealed:
		diags.AddError("Vault Cluster Is Sealed",
			fmt.Sprintf("The cluster at %s is sealed, so it cannot answer replication calls.\n\n"+
				"Unseal it with its key shares (`vault operator unseal`, or PUT sys/unseal; a DR secondary unseals with its primary's shares) "+
				"and run Terraform again.", addr))
	default:
		tflog.Debug(ctx, "cluster ready", map[string]any{
			"address": addr, "version": h.Version, "replication_dr_mode": h.ReplicationDRMode, "cluster_name": h.ClusterName,
		})
	}
	return diags
}

// tfLogger forwards the client's debug lines to tflog. The client never
// passes a secret; masking is applied on top all the same.
//
// One client, hence one tfLogger and one context, serves every request of
// the provider process, and Terraform sends requests in parallel (two
// resources on one alias). terraform-plugin-log's masking writes into the
// field map of the context it logs with (LoggerOpts.ApplyMask), so the calls
// are serialised: unserialised, they crashed the provider with "concurrent
// map iteration and map write".
type tfLogger struct {
	mu  *sync.Mutex
	ctx context.Context
}

func newTFLogger(ctx context.Context) tfLogger { return tfLogger{mu: &sync.Mutex{}, ctx: ctx} }

func (l tfLogger) log(logf func(context.Context, string, ...map[string]any), msg string, kv []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	logf(l.ctx, msg, fields(kv))
}

func fields(kv []any) map[string]any {
	m := make(map[string]any, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return m
}

func (l tfLogger) Error(msg string, kv ...any) { l.log(tflog.Error, msg, kv) }
func (l tfLogger) Info(msg string, kv ...any)  { l.log(tflog.Info, msg, kv) }
func (l tfLogger) Debug(msg string, kv ...any) { l.log(tflog.Debug, msg, kv) }
func (l tfLogger) Warn(msg string, kv ...any)  { l.log(tflog.Warn, msg, kv) }

// clientFor is the first line of every CRUD method: the ready client, or
// nil with the diagnostic already added.
func clientFor(ctx context.Context, d *providerData, diags *diag.Diagnostics) *client.Client {
	if d == nil {
		notConfigured(diags)
		return nil
	}
	c, dd := d.Client(ctx)
	diags.Append(dd...)
	return c
}

// clientAndStatus returns the provider's client and the cluster's DR status.
// On failure both are nil and diags says why (unreachable, sealed, ...).
func clientAndStatus(ctx context.Context, data *providerData, diags *diag.Diagnostics) (*client.Client, *client.DRStatus) {
	return drKind.clientAndStatus(ctx, data, diags)
}
