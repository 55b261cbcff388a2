package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

var (
	_ resource.Resource                = (*primaryResource)(nil)
	_ resource.ResourceWithConfigure   = (*primaryResource)(nil)
	_ resource.ResourceWithImportState = (*primaryResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*primaryResource)(nil)
)

// What destroying a vaultrepl_dr_primary does, listed once: the validator,
// the attribute description and Delete all read this list.
const (
	destroyDisable = "disable"
	destroyDemote  = "demote"
	destroyLeave   = "leave"
)

var destroyActionChoices = []struct{ value, meaning string }{
	{destroyDisable, "turn DR replication off on the cluster (`sys/replication/dr/primary/disable`); its secondaries are cut off and enabling it again creates a new DR set"},
	{destroyDemote, "demote the cluster to a DR secondary that follows no primary (`sys/replication/dr/primary/demote`), keeping its DR set and data, as in a planned failover"},
	{destroyLeave, "change nothing on the cluster and only forget the resource"},
}

func destroyActions() []string {
	out := make([]string, 0, len(destroyActionChoices))
	for _, c := range destroyActionChoices {
		out = append(out, c.value)
	}
	return out
}

func destroyActionsMarkdown() string {
	parts := make([]string, 0, len(destroyActionChoices))
	for _, c := range destroyActionChoices {
		parts = append(parts, fmt.Sprintf("`%s`: %s", c.value, c.meaning))
	}
	return strings.Join(parts, "; ")
}

// NewDRPrimaryResource is the constructor of vaultrepl_dr_primary.
func NewDRPrimaryResource() resource.Resource { return &primaryResource{kind: drKind} }

// NewPerformancePrimaryResource is the constructor of
// vaultrepl_performance_primary.
func NewPerformancePrimaryResource() resource.Resource {
	return &primaryResource{kind: performanceKind}
}

// primaryResource is vaultrepl_dr_primary and vaultrepl_performance_primary:
// the same calls under the family's path prefix.
type primaryResource struct {
	data *providerData
	kind *replKind
}

type primaryModel struct {
	PrimaryClusterAddr types.String `tfsdk:"primary_cluster_addr"`
	DestroyAction      types.String `tfsdk:"destroy_action"`
	ClusterID          types.String `tfsdk:"cluster_id"`
}

func (r *primaryResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = r.kind.typeName(req.ProviderTypeName, "primary")
}

func (r *primaryResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: r.kind.words("Enables DR replication as a **primary** on the provider's cluster (`sys/replication/dr/primary/enable`), " +
			"creating a new DR set with its own `cluster_id`. Secondaries join it with activation tokens from " +
			"`vaultrepl_dr_secondary_token`.\n\n" +
			"If the cluster stops being a primary outside Terraform, the next refresh removes this resource from state " +
			"(with a warning), so the plan shows it being created again."),
		Attributes: map[string]schema.Attribute{
			"primary_cluster_addr": schema.StringAttribute{
				MarkdownDescription: r.kind.words("Cluster address (host:port or https://host:port of the cluster port) that secondaries connect to. " +
					"Defaults to the cluster's own advertised cluster address. Changing it replaces the resource: " +
					"replication is disabled and enabled again, which creates a **new DR set** (new `cluster_id`) and cuts off every secondary."),
				Optional:   true,
				Computed:   true,
				Validators: []validator.String{clusterAddrValidator{}},
				PlanModifiers: []planmodifier.String{
					stringplanmodifier.UseStateForUnknown(),
					stringplanmodifier.RequiresReplaceIfConfigured(),
				},
			},
			"destroy_action": schema.StringAttribute{
				MarkdownDescription: r.kind.words("What destroying this resource does to the cluster. One of: " + destroyActionsMarkdown() +
					". Defaults to `" + destroyDisable + "`. Can be changed in place before a destroy."),
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(destroyDisable),
				Validators: []validator.String{stringvalidator.OneOf(destroyActions()...)},
			},
			"cluster_id": schema.StringAttribute{
				MarkdownDescription: r.kind.words("Id of the DR set this primary leads (`cluster_id` in the DR status). The import id."),
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

func (r *primaryResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *primaryResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.State.Raw.IsNull() {
		return
	}
	var state primaryModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if req.Plan.Raw.IsNull() {
		switch state.DestroyAction.ValueString() {
		case destroyDisable:
			resp.Diagnostics.AddWarning(r.kind.summary("Destroying Disables DR Replication"),
				r.kind.sayf("Destroying this vaultrepl_dr_primary disables DR replication on the primary of DR set %s: "+
					"its secondaries are cut off. Set destroy_action = %q to keep replication running, or %q for a planned failover.",
					state.ClusterID.ValueString(), destroyLeave, destroyDemote))
		case destroyDemote:
			resp.Diagnostics.AddWarning(r.kind.summary("Destroying Demotes The DR Primary"),
				r.kind.sayf("Destroying this vaultrepl_dr_primary demotes the primary of DR set %s to a secondary: it refuses writes from then on.",
					state.ClusterID.ValueString()))
		}
		return
	}
	var plan primaryModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !plan.PrimaryClusterAddr.IsUnknown() && !plan.PrimaryClusterAddr.Equal(state.PrimaryClusterAddr) {
		resp.Diagnostics.AddAttributeWarning(path.Root("primary_cluster_addr"), r.kind.summary("Replacing The DR Primary Creates A New DR Set"),
			r.kind.sayf("primary_cluster_addr changes from %s to %s, which replaces vaultrepl_dr_primary: DR replication is disabled and enabled again. "+
				"The cluster gets a new cluster_id, and every secondary of DR set %s is cut off and needs a new activation token "+
				"(enabling a secondary wipes its replicated data).",
				state.PrimaryClusterAddr, plan.PrimaryClusterAddr, state.ClusterID.ValueString()))
	}
}

func (r *primaryResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan primaryModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx)
	c, st := r.kind.clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	switch {
	case st.Mode == client.ModePrimary:
		resp.Diagnostics.AddError(r.kind.summary("DR Primary Already Enabled"),
			r.kind.sayf("The cluster at %s is already a DR primary (cluster id %s), enabled outside this resource.\n\n"+
				"To manage it with Terraform, import it: terraform import <address of this vaultrepl_dr_primary> %s. "+
				"To start a new DR set instead, disable replication on it first.", c.Address(), st.ClusterID, st.ClusterID))
		return
	case st.IsSecondary():
		resp.Diagnostics.AddError(r.kind.summary("Cluster Is A DR Secondary"),
			r.kind.sayf("The cluster at %s is a DR secondary (mode %s, DR set %s), so it cannot be enabled as a primary.\n\n"+
				"To make it the primary of its DR set, promote it with vaultrepl_dr_promotion. To start a new DR set with it, "+
				"disable replication on it first (destroying its vaultrepl_dr_secondary does that). Check also that the provider's "+
				"address points at the cluster you meant.", c.Address(), st.Mode, st.ClusterID))
		return
	}

	addr := plan.PrimaryClusterAddr.ValueString()
	tflog.Info(ctx, r.kind.words("enabling DR primary"), map[string]any{"address": c.Address(), "primary_cluster_addr": addr})
	warnings, err := c.Replication(r.kind.client).EnablePrimary(ctx, addr)
	if err != nil {
		apiError(&resp.Diagnostics, r.kind.summary("Cannot Enable DR Primary"), r.kind.words("enable DR replication as a primary"), c.Address(),
			"Check the server's message below; primary_cluster_addr must be a reachable host:port of the cluster port.", err)
		return
	}
	logWarnings(ctx, warnings)

	st, err = r.kind.status(ctx, c)
	if err != nil {
		r.kind.readStatusError(&resp.Diagnostics, c.Address(), err)
		return
	}
	if st.Mode != client.ModePrimary {
		resp.Diagnostics.AddError(r.kind.summary("DR Primary Not Enabled"),
			r.kind.sayf("The cluster at %s accepted primary/enable but reports mode %q. Check the server's logs.", c.Address(), st.Mode))
		return
	}
	plan.ClusterID = types.StringValue(st.ClusterID)
	if plan.PrimaryClusterAddr.IsUnknown() || plan.PrimaryClusterAddr.IsNull() {
		plan.PrimaryClusterAddr = types.StringValue(st.PrimaryClusterAddr)
	}
	tflog.Info(ctx, r.kind.words("DR primary enabled"), map[string]any{"cluster_id": st.ClusterID})
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *primaryResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state primaryModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx)
	c, st := r.kind.clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	if st.Mode != client.ModePrimary {
		resp.Diagnostics.AddWarning(r.kind.summary("DR Primary No Longer Enabled"),
			r.kind.sayf("The cluster at %s is no longer a DR primary (mode is now %q; it was DR set %s). This changed outside Terraform. "+
				"The resource was removed from state, so the plan shows it being created again, which makes a new DR set with a new cluster_id.",
				c.Address(), st.Mode, state.ClusterID.ValueString()))
		resp.State.RemoveResource(ctx)
		return
	}
	if !state.ClusterID.IsNull() && state.ClusterID.ValueString() != st.ClusterID {
		resp.Diagnostics.AddWarning(r.kind.summary("DR Primary Has A New Cluster Id"),
			r.kind.sayf("The cluster at %s is a DR primary of DR set %s, not %s: replication was disabled and enabled again outside Terraform. "+
				"Secondaries of the old DR set are cut off and need new activation tokens.", c.Address(), st.ClusterID, state.ClusterID.ValueString()))
	}
	state.ClusterID = types.StringValue(st.ClusterID)
	if !sameClusterAddr(state.PrimaryClusterAddr.ValueString(), st.PrimaryClusterAddr) {
		state.PrimaryClusterAddr = types.StringValue(st.PrimaryClusterAddr)
	}
	if state.DestroyAction.IsNull() {
		state.DestroyAction = types.StringValue(destroyDisable)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// sameClusterAddr compares cluster addresses the way a server may have
// normalised them (with or without https://, trailing slash).
func sameClusterAddr(a, b string) bool {
	norm := func(s string) string {
		s = strings.TrimSpace(strings.TrimRight(s, "/"))
		return strings.TrimPrefix(s, "https://")
	}
	return norm(a) == norm(b)
}

func (r *primaryResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Only destroy_action can change in place; it is stored, nothing is called.
	var plan, state primaryModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ClusterID = state.ClusterID
	if plan.PrimaryClusterAddr.IsUnknown() {
		plan.PrimaryClusterAddr = state.PrimaryClusterAddr
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *primaryResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state primaryModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx)
	action := state.DestroyAction.ValueString()
	if action == destroyLeave {
		tflog.Info(ctx, r.kind.words("destroy_action is leave: DR primary left enabled"), map[string]any{"cluster_id": state.ClusterID.ValueString()})
		return
	}
	c, st := r.kind.clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	if st.Mode != client.ModePrimary || st.ClusterID != state.ClusterID.ValueString() {
		tflog.Info(ctx, r.kind.words("cluster is no longer the DR primary in state: nothing to do"), map[string]any{
			"mode": st.Mode, "cluster_id": st.ClusterID, "state_cluster_id": state.ClusterID.ValueString(),
		})
		return
	}
	var (
		warnings client.Warnings
		err      error
	)
	switch action {
	case destroyDemote:
		warnings, err = c.Replication(r.kind.client).DemotePrimary(ctx)
	default:
		warnings, err = c.Replication(r.kind.client).DisablePrimary(ctx)
	}
	if err != nil {
		apiError(&resp.Diagnostics, r.kind.summary("Cannot Destroy DR Primary"), r.kind.words(action+" the DR primary"), c.Address(), "", err)
		return
	}
	logWarnings(ctx, warnings)
}

func (r *primaryResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ctx = withMasking(ctx)
	c, st := r.kind.clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	if st.Mode != client.ModePrimary || st.ClusterID != req.ID {
		resp.Diagnostics.AddError(r.kind.summary("Cannot Import DR Primary"),
			r.kind.sayf("The cluster at %s is not a DR primary with cluster id %q (mode %q, cluster id %q). "+
				"Import with the cluster_id shown by sys/replication/dr/status on the provider's cluster.", c.Address(), req.ID, st.Mode, st.ClusterID))
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &primaryModel{
		ClusterID:          types.StringValue(st.ClusterID),
		PrimaryClusterAddr: types.StringValue(st.PrimaryClusterAddr),
		DestroyAction:      types.StringValue(destroyDisable),
	})...)
}

func logWarnings(ctx context.Context, warnings client.Warnings) {
	for _, w := range warnings {
		tflog.Info(ctx, "server warning", map[string]any{"warning": w})
	}
}
