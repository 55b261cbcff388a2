// Package provider implements the vaultrepl Terraform provider using the
// Terraform Plugin Framework (protocol 6).
package provider

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// TypeName is the provider type name used in Terraform configurations
// (`provider "vaultrepl" {}`) and as the prefix of every resource and data
// source type name.
const TypeName = "vaultrepl"

// Environment variables read by the provider. They use the same names as the
// Vault CLI so an existing Vault shell environment works unchanged.
const (
	EnvAddress       = "VAULT_ADDR"
	EnvToken         = "VAULT_TOKEN"
	EnvCACertFile    = "VAULT_CACERT"
	EnvCACertDir     = "VAULT_CAPATH"
	EnvSkipVerify    = "VAULT_SKIP_VERIFY"
	EnvTLSServerName = "VAULT_TLS_SERVER_NAME"
	EnvMaxRetries    = "VAULT_MAX_RETRIES"
)

// Defaults applied when neither the provider block nor the environment sets a
// value.
const (
	DefaultAddress    = "https://127.0.0.1:8200"
	DefaultMaxRetries = 2
)

// Config is the fully resolved provider configuration (provider block, then
// environment variables, then defaults). Configure wraps it in the
// providerData it hands to every resource and data source. Resolving it
// performs no I/O: the client is built from it when first needed.
type Config struct {
	// Address is the base URL of the server, e.g. "https://127.0.0.1:8200".
	Address string
	// Token is the token sent in the X-Vault-Token header; may be empty.
	Token string
	// CACertFile is a PEM file of CA certificates to trust; may be empty.
	CACertFile string
	// CACertDir is a directory of PEM CA certificates to trust; may be empty.
	CACertDir string
	// SkipTLSVerify disables TLS certificate verification.
	SkipTLSVerify bool
	// TLSServerName overrides the server name used for SNI and certificate
	// verification; may be empty.
	TLSServerName string
	// MaxRetries is the number of retries for retryable failures (>= 0).
	MaxRetries int
	// ProviderVersion is the provider's version, for the User-Agent header.
	ProviderVersion string
}

// String implements fmt.Stringer without revealing the token.
func (c Config) String() string {
	token := ""
	if c.Token != "" {
		token = "(sensitive)"
	}
	return fmt.Sprintf("Config{Address:%q Token:%q CACertFile:%q CACertDir:%q SkipTLSVerify:%t TLSServerName:%q MaxRetries:%d ProviderVersion:%q}",
		c.Address, token, c.CACertFile, c.CACertDir, c.SkipTLSVerify, c.TLSServerName, c.MaxRetries, c.ProviderVersion)
}

// GoString implements fmt.GoStringer without revealing the token.
func (c Config) GoString() string { return c.String() }

var (
	_ provider.Provider                       = (*vaultreplProvider)(nil)
	_ provider.ProviderWithEphemeralResources = (*vaultreplProvider)(nil)
)

// vaultreplProvider is the provider implementation.
type vaultreplProvider struct {
	// version is "dev" for local builds, "test" in tests and the release
	// version (set with -ldflags "-X main.version=...") in releases.
	version string
}

// providerModel maps the provider block onto Go values.
type providerModel struct {
	Address       types.String `tfsdk:"address"`
	Token         types.String `tfsdk:"token"`
	CACertFile    types.String `tfsdk:"ca_cert_file"`
	CACertDir     types.String `tfsdk:"ca_cert_dir"`
	SkipTLSVerify types.Bool   `tfsdk:"skip_tls_verify"`
	TLSServerName types.String `tfsdk:"tls_server_name"`
	MaxRetries    types.Int64  `tfsdk:"max_retries"`
}

// New returns a constructor for the provider, as expected by
// providerserver.Serve and providerserver.NewProtocol6WithError.
func New(version string) func() provider.Provider {
	return func() provider.Provider {
		return &vaultreplProvider{version: version}
	}
}

// Metadata returns the provider type name and version.
func (p *vaultreplProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = TypeName
	resp.Version = p.version
}

// Schema defines the provider block.
func (p *vaultreplProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "The vaultrepl provider manages Disaster Recovery (DR) and performance replication of vaultrepl-server clusters — and of Vault Enterprise " +
			"clusters, since it speaks only Vault's documented API: primaries, secondary activation tokens, secondaries, paths filters and promotions. " +
			"One provider block (or alias) talks to one cluster. " +
			"Every argument is optional and falls back to the environment variable the Vault CLI uses, so an existing Vault environment works unchanged. " +
			"Configuring the provider does not contact the server; the first resource or data source that needs it does.",
		Attributes: map[string]schema.Attribute{
			"address": schema.StringAttribute{
				Description: "URL of the vaultrepl server, including scheme and port, for example `https://vault.example.com:8200`. " +
					"Must be an `http://` or `https://` URL. Can also be set with the `" + EnvAddress + "` environment variable. " +
					"Defaults to `" + DefaultAddress + "`.",
				Optional:   true,
				Validators: []validator.String{httpURLValidator{}},
			},
			"token": schema.StringAttribute{
				Description: "Token used to authenticate to the server, sent in the `X-Vault-Token` header. " +
					"Can also be set with the `" + EnvToken + "` environment variable (preferred, so the token stays out of configuration files).",
				Optional:  true,
				Sensitive: true,
			},
			"ca_cert_file": schema.StringAttribute{
				Description: "Path to a PEM-encoded CA certificate file used to verify the server's TLS certificate. " +
					"Can also be set with the `" + EnvCACertFile + "` environment variable.",
				Optional: true,
			},
			"ca_cert_dir": schema.StringAttribute{
				Description: "Path to a directory of PEM-encoded CA certificate files used to verify the server's TLS certificate. " +
					"Ignored when `ca_cert_file` is set. Can also be set with the `" + EnvCACertDir + "` environment variable.",
				Optional: true,
			},
			"skip_tls_verify": schema.BoolAttribute{
				Description: "Disable verification of the server's TLS certificate. Only for testing: it makes the connection open to interception. " +
					"Can also be set with the `" + EnvSkipVerify + "` environment variable (`true`/`false`, `1`/`0`). Defaults to `false`.",
				Optional: true,
			},
			"tls_server_name": schema.StringAttribute{
				Description: "Server name to use for SNI and to verify the server's TLS certificate, when it differs from the host in `address`. " +
					"Can also be set with the `" + EnvTLSServerName + "` environment variable.",
				Optional: true,
			},
			"max_retries": schema.Int64Attribute{
				Description: "Maximum number of times an idempotent read (status, health) is retried after a connection error or a 412, 429 or 5xx (except 501) response; `0` disables retries. " +
					"Calls that change replication state (enable, promote, demote, disable, minting or revoking a secondary) are never retried automatically. " +
					"Can also be set with the `" + EnvMaxRetries + "` environment variable. Defaults to `2`.",
				Optional:   true,
				Validators: []validator.Int64{int64validator.AtLeast(0)},
			},
		},
	}
}

// Configure resolves the provider configuration and passes it to resources
// and data sources. It must not contact the server.
func (p *vaultreplProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var model providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &model)...)
	if resp.Diagnostics.HasError() {
		return
	}

	// Values that depend on other resources are unknown during plan. Defer
	// when Terraform supports it; otherwise resolveConfig reports them.
	if hasUnknown(model) && req.ClientCapabilities.DeferralAllowed {
		resp.Deferred = &provider.Deferred{Reason: provider.DeferredReasonProviderConfigUnknown}
		return
	}

	cfg, diags := resolveConfig(model, os.Getenv)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	cfg.ProviderVersion = p.version

	// One providerData per Configure: it builds the client and checks the
	// cluster lazily, at the first call a resource or data source makes.
	data := newProviderData(cfg)
	resp.ResourceData = data
	resp.DataSourceData = data
	resp.EphemeralResourceData = data
}

// Resources returns the provider's resources.
func (p *vaultreplProvider) Resources(_ context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewDRPrimaryResource,
		NewDRSecondaryTokenResource,
		NewDRSecondaryResource,
		NewDRPromotionResource,
		NewPerformancePrimaryResource,
		NewPerformanceSecondaryTokenResource,
		NewPerformanceSecondaryResource,
		NewPerformancePathsFilterResource,
		NewPerformancePromotionResource,
	}
}

// EphemeralResources returns the provider's ephemeral resources (Terraform
// 1.10 and later): secrets for one run, never stored.
func (p *vaultreplProvider) EphemeralResources(_ context.Context) []func() ephemeral.EphemeralResource {
	return []func() ephemeral.EphemeralResource{
		NewDRSecondaryTokenEphemeralResource,
		NewDROperationTokenEphemeralResource,
		NewPerformanceSecondaryTokenEphemeralResource,
		NewRootTokenEphemeralResource,
	}
}

// DataSources returns the provider's data sources.
func (p *vaultreplProvider) DataSources(_ context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewDRStatusDataSource,
		NewReplicationStatusDataSource,
		NewDRFailoverHistoryDataSource,
		NewPerformanceStatusDataSource,
	}
}

func hasUnknown(m providerModel) bool {
	return m.Address.IsUnknown() || m.Token.IsUnknown() || m.CACertFile.IsUnknown() ||
		m.CACertDir.IsUnknown() || m.SkipTLSVerify.IsUnknown() || m.TLSServerName.IsUnknown() ||
		m.MaxRetries.IsUnknown()
}

// resolveConfig applies the precedence provider block > environment >
// defaults. getenv is os.Getenv outside tests; an empty environment value
// counts as unset. An invalid environment value is reported only when the
// provider block does not override it.
func resolveConfig(m providerModel, getenv func(string) string) (*Config, diag.Diagnostics) {
	var diags diag.Diagnostics
	cfg := &Config{
		Address:    DefaultAddress,
		MaxRetries: DefaultMaxRetries,
	}

	unknown := func(attr, env string) {
		diags.AddAttributeError(path.Root(attr),
			"Unknown provider configuration value",
			fmt.Sprintf("The provider cannot be configured because %q depends on a value that is not known until apply. "+
				"Set it to a value known at plan time (a literal, a variable or a data source), "+
				"or remove it and set the %s environment variable instead.", attr, env))
	}

	// String attributes: a null attribute falls back to the environment.
	str := func(v types.String, attr, env string, dst *string) (fromConfig bool) {
		switch {
		case v.IsUnknown():
			unknown(attr, env)
		case !v.IsNull():
			*dst = v.ValueString()
			return true
		default:
			if e := getenv(env); e != "" {
				*dst = e
			}
		}
		return false
	}

	addrFromConfig := str(m.Address, "address", EnvAddress, &cfg.Address)
	str(m.Token, "token", EnvToken, &cfg.Token)
	str(m.CACertFile, "ca_cert_file", EnvCACertFile, &cfg.CACertFile)
	str(m.CACertDir, "ca_cert_dir", EnvCACertDir, &cfg.CACertDir)
	str(m.TLSServerName, "tls_server_name", EnvTLSServerName, &cfg.TLSServerName)

	if !m.Address.IsUnknown() {
		if err := validateAddress(cfg.Address); err != nil {
			if addrFromConfig {
				diags.AddAttributeError(path.Root("address"), "Invalid provider address", addressHelp(err))
			} else {
				diags.AddError("Invalid "+EnvAddress+" environment variable",
					addressHelp(err)+" Fix or unset "+EnvAddress+", or set address in the provider block.")
			}
		}
	}

	switch v := m.SkipTLSVerify; {
	case v.IsUnknown():
		unknown("skip_tls_verify", EnvSkipVerify)
	case !v.IsNull():
		cfg.SkipTLSVerify = v.ValueBool()
	default:
		if e := strings.TrimSpace(getenv(EnvSkipVerify)); e != "" {
			b, err := strconv.ParseBool(e)
			if err != nil {
				diags.AddError("Invalid "+EnvSkipVerify+" environment variable",
					fmt.Sprintf("%s must be a boolean (true, false, 1 or 0), got %q. "+
						"Fix or unset it, or set skip_tls_verify in the provider block.", EnvSkipVerify, e))
			} else {
				cfg.SkipTLSVerify = b
			}
		}
	}

	switch v := m.MaxRetries; {
	case v.IsUnknown():
		unknown("max_retries", EnvMaxRetries)
	case !v.IsNull():
		if n := v.ValueInt64(); n < 0 {
			diags.AddAttributeError(path.Root("max_retries"), "Invalid max_retries",
				fmt.Sprintf("max_retries must be 0 or greater, got %d. Use 0 to disable retries.", n))
		} else {
			cfg.MaxRetries = int(n)
		}
	default:
		if e := strings.TrimSpace(getenv(EnvMaxRetries)); e != "" {
			n, err := strconv.Atoi(e)
			if err != nil || n < 0 {
				diags.AddError("Invalid "+EnvMaxRetries+" environment variable",
					fmt.Sprintf("%s must be a whole number of retries, 0 or greater (for example 2), got %q. "+
						"Fix or unset it, or set max_retries in the provider block.", EnvMaxRetries, e))
			} else {
				cfg.MaxRetries = n
			}
		}
	}

	return cfg, diags
}

// validateAddress reports whether s is an absolute http(s) URL with a host.
func validateAddress(s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("the address is empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a valid URL: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q must start with http:// or https://", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", s)
	}
	return nil
}

func addressHelp(err error) string {
	return fmt.Sprintf("The server address is invalid: %s. "+
		"Use the full URL of the vaultrepl server, including scheme and port, for example %q.", err, DefaultAddress)
}

// httpURLValidator checks at validate time that a known, non-null string is
// an http(s) URL.
type httpURLValidator struct{}

var _ validator.String = httpURLValidator{}

func (httpURLValidator) Description(_ context.Context) string {
	return "value must be an http:// or https:// URL with a host"
}

func (v httpURLValidator) MarkdownDescription(ctx context.Context) string {
	return "value must be an `http://` or `https://` URL with a host"
}

func (httpURLValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := validateAddress(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid provider address", addressHelp(err))
	}
}
