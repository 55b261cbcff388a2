package provider

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// testAccProtoV6ProviderFactories serves the provider in-process to the real
// Terraform CLI in acceptance tests.
var testAccProtoV6ProviderFactories = map[string]func() (tfprotov6.ProviderServer, error){
	TypeName: providerserver.NewProtocol6WithError(New("test")()),
}

func providerSchema(t *testing.T) provider.SchemaResponse {
	t.Helper()
	var resp provider.SchemaResponse
	New("test")().Schema(context.Background(), provider.SchemaRequest{}, &resp)
	return resp
}

func TestProviderSchemaValid(t *testing.T) {
	ctx := context.Background()
	resp := providerSchema(t)
	if resp.Diagnostics.HasError() {
		t.Fatalf("Schema diagnostics: %v", resp.Diagnostics)
	}
	if diags := resp.Schema.ValidateImplementation(ctx); diags.HasError() {
		t.Fatalf("ValidateImplementation diagnostics: %v", diags)
	}

	want := []string{"address", "token", "ca_cert_file", "ca_cert_dir", "skip_tls_verify", "tls_server_name", "max_retries"}
	if got := len(resp.Schema.Attributes); got != len(want) {
		t.Errorf("schema has %d attributes, want %d", got, len(want))
	}
	for _, name := range want {
		a, ok := resp.Schema.Attributes[name]
		if !ok {
			t.Errorf("attribute %q missing", name)
			continue
		}
		if !a.IsOptional() || a.IsRequired() {
			t.Errorf("attribute %q must be optional", name)
		}
		if strings.TrimSpace(a.GetDescription()) == "" {
			t.Errorf("attribute %q has no description", name)
		}
		if sensitive := a.IsSensitive(); sensitive != (name == "token") {
			t.Errorf("attribute %q: sensitive = %t", name, sensitive)
		}
	}
	if resp.Schema.Description == "" {
		t.Error("provider schema has no description")
	}

	var meta provider.MetadataResponse
	New("1.2.3")().Metadata(ctx, provider.MetadataRequest{}, &meta)
	if meta.TypeName != "vaultrepl" || meta.Version != "1.2.3" {
		t.Errorf("metadata = %+v", meta)
	}
	p := New("test")()
	if n := len(p.Resources(ctx)); n != 9 {
		t.Errorf("%d resources, want 9", n)
	}
	if n := len(p.DataSources(ctx)); n != 4 {
		t.Errorf("%d data sources, want 4", n)
	}
	if pe, ok := p.(provider.ProviderWithEphemeralResources); !ok || len(pe.EphemeralResources(ctx)) != 4 {
		t.Errorf("ephemeral resources: want 4 (implements: %t)", ok)
	}
}

func TestResolveConfig(t *testing.T) {
	null := providerModel{
		Address:       types.StringNull(),
		Token:         types.StringNull(),
		CACertFile:    types.StringNull(),
		CACertDir:     types.StringNull(),
		SkipTLSVerify: types.BoolNull(),
		TLSServerName: types.StringNull(),
		MaxRetries:    types.Int64Null(),
	}
	with := func(f func(*providerModel)) providerModel {
		m := null
		f(&m)
		return m
	}
	defaults := Config{Address: DefaultAddress, MaxRetries: DefaultMaxRetries}

	tests := []struct {
		name    string
		model   providerModel
		env     map[string]string
		want    Config
		wantErr string // substring of an error summary or detail; "" means no error
		errPath string // attribute path of the error, if it must have one
	}{
		{
			name:  "defaults",
			model: null,
			want:  defaults,
		},
		{
			name:  "environment only",
			model: null,
			env: map[string]string{
				EnvAddress: "http://10.0.0.1:8200", EnvToken: "env-token", EnvCACertFile: "/ca.pem",
				EnvCACertDir: "/certs", EnvSkipVerify: "true", EnvTLSServerName: "vault.internal", EnvMaxRetries: "5",
			},
			want: Config{
				Address: "http://10.0.0.1:8200", Token: "env-token", CACertFile: "/ca.pem", CACertDir: "/certs",
				SkipTLSVerify: true, TLSServerName: "vault.internal", MaxRetries: 5,
			},
		},
		{
			name: "attributes override environment",
			model: providerModel{
				Address: types.StringValue("https://vault.example.com"), Token: types.StringValue("cfg-token"),
				CACertFile: types.StringValue("/cfg/ca.pem"), CACertDir: types.StringValue("/cfg/certs"),
				SkipTLSVerify: types.BoolValue(false), TLSServerName: types.StringValue("cfg.internal"),
				MaxRetries: types.Int64Value(0),
			},
			env: map[string]string{
				EnvAddress: "http://10.0.0.1:8200", EnvToken: "env-token", EnvCACertFile: "/ca.pem",
				EnvCACertDir: "/certs", EnvSkipVerify: "1", EnvTLSServerName: "vault.internal", EnvMaxRetries: "5",
			},
			want: Config{
				Address: "https://vault.example.com", Token: "cfg-token", CACertFile: "/cfg/ca.pem", CACertDir: "/cfg/certs",
				SkipTLSVerify: false, TLSServerName: "cfg.internal", MaxRetries: 0,
			},
		},
		{
			name:  "explicit empty token overrides VAULT_TOKEN",
			model: with(func(m *providerModel) { m.Token = types.StringValue("") }),
			env:   map[string]string{EnvToken: "env-token"},
			want:  defaults,
		},
		{
			name:  "empty environment values count as unset",
			model: null,
			env:   map[string]string{EnvAddress: "", EnvMaxRetries: "", EnvSkipVerify: ""},
			want:  defaults,
		},
		{
			name:  "max_retries from environment with spaces",
			model: null,
			env:   map[string]string{EnvMaxRetries: " 7 "},
			want:  Config{Address: DefaultAddress, MaxRetries: 7},
		},
		{
			name:    "bad address attribute",
			model:   with(func(m *providerModel) { m.Address = types.StringValue("127.0.0.1:8200") }),
			wantErr: "Invalid provider address",
			errPath: "address",
		},
		{
			name:    "address attribute with unsupported scheme",
			model:   with(func(m *providerModel) { m.Address = types.StringValue("ftp://vault.example.com") }),
			wantErr: "must start with http:// or https://",
			errPath: "address",
		},
		{
			name:    "empty address attribute",
			model:   with(func(m *providerModel) { m.Address = types.StringValue("") }),
			wantErr: "the address is empty",
			errPath: "address",
		},
		{
			name:    "bad VAULT_ADDR",
			model:   null,
			env:     map[string]string{EnvAddress: "https://"},
			wantErr: "Invalid VAULT_ADDR environment variable",
		},
		{
			name:  "bad VAULT_ADDR ignored when address is set",
			model: with(func(m *providerModel) { m.Address = types.StringValue("http://127.0.0.1:8200") }),
			env:   map[string]string{EnvAddress: "::not a url::"},
			want:  Config{Address: "http://127.0.0.1:8200", MaxRetries: DefaultMaxRetries},
		},
		{
			name:    "non-integer VAULT_MAX_RETRIES",
			model:   null,
			env:     map[string]string{EnvMaxRetries: "three"},
			wantErr: "Invalid VAULT_MAX_RETRIES environment variable",
		},
		{
			name:    "negative VAULT_MAX_RETRIES",
			model:   null,
			env:     map[string]string{EnvMaxRetries: "-1"},
			wantErr: "0 or greater",
		},
		{
			name:  "bad VAULT_MAX_RETRIES ignored when max_retries is set",
			model: with(func(m *providerModel) { m.MaxRetries = types.Int64Value(4) }),
			env:   map[string]string{EnvMaxRetries: "three"},
			want:  Config{Address: DefaultAddress, MaxRetries: 4},
		},
		{
			name:    "negative max_retries attribute",
			model:   with(func(m *providerModel) { m.MaxRetries = types.Int64Value(-3) }),
			wantErr: "Invalid max_retries",
			errPath: "max_retries",
		},
		{
			name:    "bad VAULT_SKIP_VERIFY",
			model:   null,
			env:     map[string]string{EnvSkipVerify: "yes please"},
			wantErr: "Invalid VAULT_SKIP_VERIFY environment variable",
		},
		{
			name:    "unknown address",
			model:   with(func(m *providerModel) { m.Address = types.StringUnknown() }),
			wantErr: "Unknown provider configuration value",
			errPath: "address",
		},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			got, diags := resolveConfig(tt.model, getenv)

			if tt.wantErr == "" {
				if diags.HasError() {
					t.Fatalf("unexpected diagnostics: %v", diags)
				}
				if *got != tt.want {
					t.Fatalf("got  %#v\nwant %#v", *got, tt.want)
				}
				return
			}

			if !diags.HasError() {
				t.Fatalf("expected an error containing %q, got none (config %v)", tt.wantErr, got)
			}
			found := false
			for _, d := range diags.Errors() {
				if !strings.Contains(d.Summary()+" "+d.Detail(), tt.wantErr) {
					continue
				}
				found = true
				if tt.errPath != "" {
					wd, ok := d.(interface{ Path() path.Path })
					if !ok || !wd.Path().Equal(path.Root(tt.errPath)) {
						t.Errorf("error %q is not attached to attribute %q", d.Summary(), tt.errPath)
					}
				}
			}
			if !found {
				t.Fatalf("no error contains %q: %v", tt.wantErr, diags)
			}
		})
	}
}

func TestConfigStringRedactsToken(t *testing.T) {
	c := Config{Address: DefaultAddress, Token: "s.supersecret"}
	for _, s := range []string{c.String(), c.GoString()} {
		if strings.Contains(s, "supersecret") {
			t.Fatalf("token leaked: %s", s)
		}
	}
}

// configFor builds the provider block value for the given attributes; every
// other attribute is null.
func configFor(t *testing.T, attrs map[string]tftypes.Value) tfsdk.Config {
	t.Helper()
	s := providerSchema(t).Schema
	typ, ok := s.Type().TerraformType(context.Background()).(tftypes.Object)
	if !ok {
		t.Fatalf("schema type is not an object")
	}
	vals := make(map[string]tftypes.Value, len(typ.AttributeTypes))
	for name, at := range typ.AttributeTypes {
		if v, ok := attrs[name]; ok {
			vals[name] = v
		} else {
			vals[name] = tftypes.NewValue(at, nil)
		}
	}
	return tfsdk.Config{Schema: s, Raw: tftypes.NewValue(typ, vals)}
}

func clearVaultEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{EnvAddress, EnvToken, EnvCACertFile, EnvCACertDir, EnvSkipVerify, EnvTLSServerName, EnvMaxRetries} {
		t.Setenv(k, "")
	}
}

func TestConfigure(t *testing.T) {
	clearVaultEnv(t)
	t.Setenv(EnvToken, "env-token")
	t.Setenv(EnvMaxRetries, "9")

	ctx := context.Background()
	// Nothing listens on port 1: Configure must succeed because it makes
	// no network calls.
	req := provider.ConfigureRequest{Config: configFor(t, map[string]tftypes.Value{
		"address":         tftypes.NewValue(tftypes.String, "http://127.0.0.1:1"),
		"skip_tls_verify": tftypes.NewValue(tftypes.Bool, true),
		"max_retries":     tftypes.NewValue(tftypes.Number, 3),
	})}
	var resp provider.ConfigureResponse
	New("1.2.3")().Configure(ctx, req, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatalf("Configure diagnostics: %v", resp.Diagnostics)
	}

	want := Config{
		Address: "http://127.0.0.1:1", Token: "env-token", SkipTLSVerify: true,
		MaxRetries: 3, ProviderVersion: "1.2.3",
	}
	for name, data := range map[string]any{"ResourceData": resp.ResourceData, "DataSourceData": resp.DataSourceData} {
		pd, ok := data.(*providerData)
		if !ok {
			t.Fatalf("%s is %T, want *providerData", name, data)
		}
		if *pd.cfg != want {
			t.Errorf("%s = %#v, want %#v", name, *pd.cfg, want)
		}
		if pd.client != nil {
			t.Errorf("%s: Configure built a client; it must stay lazy", name)
		}
	}
}

func TestConfigureErrors(t *testing.T) {
	clearVaultEnv(t)
	t.Setenv(EnvMaxRetries, "lots")

	var resp provider.ConfigureResponse
	New("test")().Configure(context.Background(), provider.ConfigureRequest{Config: configFor(t, nil)}, &resp)
	if !resp.Diagnostics.HasError() {
		t.Fatal("expected an error for VAULT_MAX_RETRIES=lots")
	}
	if resp.ResourceData != nil || resp.DataSourceData != nil {
		t.Error("provider data set despite errors")
	}
}

func TestConfigureUnknownDefers(t *testing.T) {
	clearVaultEnv(t)
	req := provider.ConfigureRequest{
		Config: configFor(t, map[string]tftypes.Value{
			"address": tftypes.NewValue(tftypes.String, tftypes.UnknownValue),
		}),
		ClientCapabilities: provider.ConfigureProviderClientCapabilities{DeferralAllowed: true},
	}
	var resp provider.ConfigureResponse
	New("test")().Configure(context.Background(), req, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatalf("Configure diagnostics: %v", resp.Diagnostics)
	}
	if resp.Deferred == nil || resp.Deferred.Reason != provider.DeferredReasonProviderConfigUnknown {
		t.Fatalf("Deferred = %+v, want provider config unknown", resp.Deferred)
	}
}

func TestHTTPURLValidator(t *testing.T) {
	ctx := context.Background()
	for value, wantErr := range map[string]bool{
		"http://127.0.0.1:8200":         false,
		"https://vault.example.com/":    false,
		"https://[::1]:8200":            false,
		"127.0.0.1:8200":                true,
		"vault.example.com":             true,
		"unix:///var/run/vault.sock":    true,
		"https://":                      true,
		"http://bad host name:8200/x y": true,
	} {
		req := validator.StringRequest{Path: path.Root("address"), ConfigValue: types.StringValue(value)}
		var resp validator.StringResponse
		httpURLValidator{}.ValidateString(ctx, req, &resp)
		if got := resp.Diagnostics.HasError(); got != wantErr {
			t.Errorf("%q: error = %t, want %t (%v)", value, got, wantErr, resp.Diagnostics)
		}
	}
	for _, v := range []types.String{types.StringNull(), types.StringUnknown()} {
		var resp validator.StringResponse
		httpURLValidator{}.ValidateString(ctx, validator.StringRequest{Path: path.Root("address"), ConfigValue: v}, &resp)
		if resp.Diagnostics.HasError() {
			t.Errorf("%v: unexpected error %v", v, resp.Diagnostics)
		}
	}
}

// TestAccProviderConfigure runs the real Terraform CLI (TF_ACC=1). Planning
// the creation of a resource needs no call to the cluster, so a plan against
// an address where nothing listens succeeds: Configure and plan stay lazy.
// A malformed address is still refused at validation time.
func TestAccProviderConfigure(t *testing.T) {
	clearVaultEnv(t)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testAccProtoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: `
provider "vaultrepl" {
  address = "http://127.0.0.1:1"
}

resource "vaultrepl_dr_primary" "p" {}
`,
				PlanOnly:           true,
				ExpectNonEmptyPlan: true,
			},
			{
				Config: `
provider "vaultrepl" {
  address = "127.0.0.1:8200"
}

resource "vaultrepl_dr_primary" "p" {}
`,
				PlanOnly:    true,
				ExpectError: regexp.MustCompile(`Invalid provider address`),
			},
		},
	})
}
