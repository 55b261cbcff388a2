package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	dschema "github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	rschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// describable is what every resource and data source attribute offers.
type describable interface {
	GetMarkdownDescription() string
	GetDescription() string
	IsSensitive() bool
}

// walk visits every attribute, nested ones included, with its path.
func walkResource(prefix string, attrs map[string]rschema.Attribute, visit func(string, describable)) {
	for name, a := range attrs {
		p := prefix + name
		visit(p, a)
		if n, ok := a.(rschema.SingleNestedAttribute); ok {
			walkResource(p+".", n.Attributes, visit)
		}
	}
}

func walkDataSource(prefix string, attrs map[string]dschema.Attribute, visit func(string, describable)) {
	for name, a := range attrs {
		p := prefix + name
		visit(p, a)
		switch n := a.(type) {
		case dschema.SingleNestedAttribute:
			walkDataSource(p+".", n.Attributes, visit)
		case dschema.ListNestedAttribute:
			walkDataSource(p+"[].", n.NestedObject.Attributes, visit)
		}
	}
}

// TestSchemas checks every resource and data source schema: valid, a
// description on the construct and on every attribute, and exactly the
// secrets marked sensitive.
func TestSchemas(t *testing.T) {
	ctx := context.Background()
	p := New("test")()
	sensitive := map[string]bool{
		"vaultrepl_dr_secondary_token.token":           true,
		"vaultrepl_dr_secondary.token":                 true,
		"vaultrepl_dr_secondary.dr_operation_token":    true,
		"vaultrepl_dr_promotion.dr_operation_token":    true,
		"vaultrepl_dr_promotion.key_shares":            true,
		"vaultrepl_dr_secondary.token_wo":              true,
		"vaultrepl_dr_secondary.dr_operation_token_wo": true,
		"vaultrepl_dr_promotion.dr_operation_token_wo": true,
		"vaultrepl_dr_promotion.key_shares_wo":         true,
		"vaultrepl_performance_secondary_token.token":  true,
		"vaultrepl_performance_secondary.token":        true,
		"vaultrepl_performance_secondary.token_wo":     true,
		// Ephemeral resources: never stored, sensitive all the same.
		"vaultrepl_dr_secondary_token(ephemeral).token":          true,
		"vaultrepl_performance_secondary_token(ephemeral).token": true,
		"vaultrepl_dr_operation_token(ephemeral).token":          true,
		"vaultrepl_dr_operation_token(ephemeral).key_shares":     true,
		"vaultrepl_root_token(ephemeral).token":                  true,
		"vaultrepl_root_token(ephemeral).key_shares":             true,
	}
	seenSensitive := map[string]bool{}
	check := func(typ string, desc string, diagsErr bool) {
		if diagsErr {
			t.Errorf("%s: schema diagnostics", typ)
		}
		if strings.TrimSpace(desc) == "" {
			t.Errorf("%s has no description", typ)
		}
	}
	visitor := func(typ string) func(string, describable) {
		return func(name string, a describable) {
			if strings.TrimSpace(a.GetMarkdownDescription()+a.GetDescription()) == "" {
				t.Errorf("%s.%s has no description", typ, name)
			}
			key := typ + "." + name
			if a.IsSensitive() {
				seenSensitive[key] = true
				if !sensitive[key] {
					t.Errorf("%s is sensitive but should not be", key)
				}
			}
		}
	}
	for _, f := range p.Resources(ctx) {
		r := f()
		var meta resource.MetadataResponse
		r.Metadata(ctx, resource.MetadataRequest{ProviderTypeName: TypeName}, &meta)
		var resp resource.SchemaResponse
		r.Schema(ctx, resource.SchemaRequest{}, &resp)
		check(meta.TypeName, resp.Schema.MarkdownDescription, resp.Diagnostics.HasError())
		if d := resp.Schema.ValidateImplementation(ctx); d.HasError() {
			t.Errorf("%s: %v", meta.TypeName, d)
		}
		walkResource("", resp.Schema.Attributes, visitor(meta.TypeName))
	}
	for _, f := range p.DataSources(ctx) {
		d := f()
		var meta datasource.MetadataResponse
		d.Metadata(ctx, datasource.MetadataRequest{ProviderTypeName: TypeName}, &meta)
		var resp datasource.SchemaResponse
		d.Schema(ctx, datasource.SchemaRequest{}, &resp)
		check(meta.TypeName, resp.Schema.MarkdownDescription, resp.Diagnostics.HasError())
		if dd := resp.Schema.ValidateImplementation(ctx); dd.HasError() {
			t.Errorf("%s: %v", meta.TypeName, dd)
		}
		walkDataSource("", resp.Schema.Attributes, visitor(meta.TypeName))
	}
	withEphemeral, ok := p.(provider.ProviderWithEphemeralResources)
	if !ok {
		t.Fatal("the provider offers no ephemeral resources")
	}
	for _, f := range withEphemeral.EphemeralResources(ctx) {
		e := f()
		var meta ephemeral.MetadataResponse
		e.Metadata(ctx, ephemeral.MetadataRequest{ProviderTypeName: TypeName}, &meta)
		var resp ephemeral.SchemaResponse
		e.Schema(ctx, ephemeral.SchemaRequest{}, &resp)
		typ := meta.TypeName + "(ephemeral)"
		check(typ, resp.Schema.MarkdownDescription, resp.Diagnostics.HasError())
		if d := resp.Schema.ValidateImplementation(ctx); d.HasError() {
			t.Errorf("%s: %v", typ, d)
		}
		for name, a := range resp.Schema.Attributes {
			visitor(typ)(name, a)
		}
	}
	for k := range sensitive {
		if !seenSensitive[k] {
			t.Errorf("%s must be sensitive", k)
		}
	}
}

// TestDestroyActionsListedOnce checks that the validator and the
// description are fed from the same list.
func TestDestroyActionsListedOnce(t *testing.T) {
	var resp resource.SchemaResponse
	NewDRPrimaryResource().Schema(context.Background(), resource.SchemaRequest{}, &resp)
	a, ok := resp.Schema.Attributes["destroy_action"].(rschema.StringAttribute)
	if !ok {
		t.Fatal("destroy_action is not a string attribute")
	}
	for _, v := range destroyActions() {
		if !strings.Contains(a.MarkdownDescription, "`"+v+"`") {
			t.Errorf("description does not list %q", v)
		}
		var vr validator.StringResponse
		a.Validators[0].ValidateString(context.Background(), validator.StringRequest{Path: path.Root("destroy_action"), ConfigValue: types.StringValue(v)}, &vr)
		if vr.Diagnostics.HasError() {
			t.Errorf("validator rejects %q", v)
		}
	}
	var vr validator.StringResponse
	a.Validators[0].ValidateString(context.Background(), validator.StringRequest{Path: path.Root("destroy_action"), ConfigValue: types.StringValue("explode")}, &vr)
	if !vr.Diagnostics.HasError() {
		t.Error("validator accepts an unknown action")
	}
}

func TestValidators(t *testing.T) {
	ctx := context.Background()
	run := func(v validator.String, s string) bool {
		var resp validator.StringResponse
		v.ValidateString(ctx, validator.StringRequest{Path: path.Root("x"), ConfigValue: types.StringValue(s)}, &resp)
		return !resp.Diagnostics.HasError()
	}
	for s, ok := range map[string]bool{"30m": true, "1800": true, "7d": true, "1h30m": true, "0": false, "0s": false, "-5m": false, "soon": false, "": false} {
		if run(durationValidator{}, s) != ok {
			t.Errorf("duration %q: ok = %t", s, !ok)
		}
	}
	for s, ok := range map[string]bool{"127.0.0.1:8201": true, "https://p.example:8201": true, "p.example:8201": true,
		"p.example": false, "http://p:8201": false, "https://p": false, "p:port": false} {
		if run(clusterAddrValidator{}, s) != ok {
			t.Errorf("cluster addr %q: ok = %t", s, !ok)
		}
	}
	for s, ok := range map[string]bool{"https://p:8200": true, "http://p": true, "p:8200": false, "ftp://p": false} {
		if run(apiAddrValidator{}, s) != ok {
			t.Errorf("api addr %q: ok = %t", s, !ok)
		}
	}
}
