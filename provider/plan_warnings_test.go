package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// The plan warnings say out loud what a plan would do to a cluster; the
// acceptance tests cannot read warnings, so ModifyPlan is tested directly.

func resourceValue(t *testing.T, r resource.Resource, vals map[string]tftypes.Value) (tftypes.Value, tfsdk.Plan) {
	t.Helper()
	var sr resource.SchemaResponse
	r.Schema(context.Background(), resource.SchemaRequest{}, &sr)
	typ, ok := sr.Schema.Type().TerraformType(context.Background()).(tftypes.Object)
	if !ok {
		t.Fatal("schema type is not an object")
	}
	if vals == nil {
		null := tftypes.NewValue(typ, nil)
		return null, tfsdk.Plan{Schema: sr.Schema, Raw: null}
	}
	all := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		if v, ok := vals[name]; ok {
			all[name] = v
		} else {
			all[name] = tftypes.NewValue(at, nil)
		}
	}
	v := tftypes.NewValue(typ, all)
	return v, tfsdk.Plan{Schema: sr.Schema, Raw: v}
}

func str(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }

func modifyPlanWarnings(t *testing.T, r resource.ResourceWithModifyPlan, state, plan map[string]tftypes.Value) string {
	t.Helper()
	stateRaw, p := resourceValue(t, r, state)
	planRaw, _ := resourceValue(t, r, plan)
	req := resource.ModifyPlanRequest{
		State:  tfsdk.State{Schema: p.Schema, Raw: stateRaw},
		Plan:   tfsdk.Plan{Schema: p.Schema, Raw: planRaw},
		Config: tfsdk.Config{Schema: p.Schema, Raw: planRaw},
	}
	resp := resource.ModifyPlanResponse{Plan: req.Plan}
	r.ModifyPlan(context.Background(), req, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatalf("ModifyPlan errors: %v", resp.Diagnostics)
	}
	var b strings.Builder
	for _, d := range resp.Diagnostics.Warnings() {
		b.WriteString(d.Summary() + ": " + d.Detail() + "\n")
	}
	return b.String()
}

func TestSecondaryPlanWarnings(t *testing.T) {
	r := &drSecondaryResource{}
	state := map[string]tftypes.Value{"token": str("old"), "cluster_id": str("set-1"), "secondary_id": str("b")}
	for name, tc := range map[string]struct {
		state, plan map[string]tftypes.Value
		want        string // "" means no warning
	}{
		"create":         {nil, map[string]tftypes.Value{"token": str("t")}, "WIPES"},
		"token replaced": {state, map[string]tftypes.Value{"token": str("new"), "cluster_id": str("set-1"), "secondary_id": str("b")}, "Replacing The DR Secondary Wipes The Cluster"},
		"no change":      {state, state, ""},
		"after import":   {map[string]tftypes.Value{"cluster_id": str("set-1")}, map[string]tftypes.Value{"token": str("t"), "cluster_id": str("set-1")}, ""},
		"destroy":        {state, nil, "Destroying Disables The DR Secondary"},
	} {
		t.Run(name, func(t *testing.T) {
			got := modifyPlanWarnings(t, r, tc.state, tc.plan)
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("warnings %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPrimaryPlanWarnings(t *testing.T) {
	r := &primaryResource{kind: drKind}
	state := map[string]tftypes.Value{"primary_cluster_addr": str("a:8201"), "cluster_id": str("set-1"), "destroy_action": str("disable")}
	moved := map[string]tftypes.Value{"primary_cluster_addr": str("b:8201"), "cluster_id": str("set-1"), "destroy_action": str("disable")}
	if got := modifyPlanWarnings(t, r, state, moved); !strings.Contains(got, "New DR Set") {
		t.Errorf("address change: %q", got)
	}
	if got := modifyPlanWarnings(t, r, state, nil); !strings.Contains(got, "Destroying Disables DR Replication") {
		t.Errorf("destroy: %q", got)
	}
	leave := map[string]tftypes.Value{"primary_cluster_addr": str("a:8201"), "cluster_id": str("set-1"), "destroy_action": str("leave")}
	if got := modifyPlanWarnings(t, r, leave, nil); got != "" {
		t.Errorf("destroy with leave: %q", got)
	}
	if got := modifyPlanWarnings(t, r, state, state); got != "" {
		t.Errorf("no change: %q", got)
	}
}

func TestSecondaryTokenPlanWarnings(t *testing.T) {
	r := &secondaryTokenResource{kind: drKind}
	state := map[string]tftypes.Value{"secondary_id": str("b"), "ttl": str("30m"), "token": str("x")}
	ttl := map[string]tftypes.Value{"secondary_id": str("b"), "ttl": str("1h"), "token": str("x")}
	if got := modifyPlanWarnings(t, r, state, ttl); got != "" {
		t.Errorf("ttl change: %q", got)
	}
	if got := modifyPlanWarnings(t, r, state, nil); !strings.Contains(got, "Secondary Will Be Revoked") {
		t.Errorf("destroy: %q", got)
	}
}
