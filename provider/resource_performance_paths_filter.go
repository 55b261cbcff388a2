package provider

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/setvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

var (
	_ resource.Resource                = (*pathsFilterResource)(nil)
	_ resource.ResourceWithConfigure   = (*pathsFilterResource)(nil)
	_ resource.ResourceWithImportState = (*pathsFilterResource)(nil)
)

// NewPerformancePathsFilterResource is the constructor of
// vaultrepl_performance_paths_filter.
//
// The filter is its own resource on the primary, not a block of
// vaultrepl_performance_secondary, because that is where Vault keeps it:
// sys/replication/performance/primary/paths-filter/:id lives on the
// primary, keyed by secondary id, and may be set before the id's token is
// minted. A block on the secondary would need the primary's address and
// token inside the secondary's resource, and a provider talks to one
// cluster.
func NewPerformancePathsFilterResource() resource.Resource { return &pathsFilterResource{} }

type pathsFilterResource struct{ data *providerData }

type pathsFilterModel struct {
	SecondaryID types.String `tfsdk:"secondary_id"`
	Mode        types.String `tfsdk:"mode"`
	Paths       types.Set    `tfsdk:"paths"`
}

func (r *pathsFilterResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_performance_paths_filter"
}

func (r *pathsFilterResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The paths filter of one performance secondary, set on the provider's cluster, its **performance primary** " +
			"(`sys/replication/performance/primary/paths-filter/:id`, as in Vault Enterprise, where the filter lives on the primary keyed by " +
			"secondary id). With `mode = \"deny\"` the secondary receives every replicated mount except `paths`; with `mode = \"allow\"` only " +
			"`paths`. Mounts marked `local` never replicate either way.\n\n" +
			"Creating, changing or destroying it takes effect at the secondary's next heartbeat: it repairs to the new view, so a " +
			"denied mount's data leaves it and comes back when the filter is removed. The filter may be created before the secondary's " +
			"activation token is minted. If the filter is removed outside Terraform, the next refresh removes the resource from state.",
		Attributes: map[string]schema.Attribute{
			"secondary_id": schema.StringAttribute{
				MarkdownDescription: "Id of the performance secondary the filter applies to (the `secondary_id` of its " +
					"`vaultrepl_performance_secondary_token`). Changing it moves the filter: the old id's is deleted. The import id.",
				Required:      true,
				Validators:    []validator.String{stringvalidator.RegexMatches(secondaryIDPattern, "must be "+secondaryIDRule)},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"mode": schema.StringAttribute{
				MarkdownDescription: "`deny`: replicate every mount except `paths`; `allow`: replicate only `paths`.",
				Required:            true,
				Validators:          []validator.String{stringvalidator.OneOf("allow", "deny")},
			},
			"paths": schema.SetAttribute{
				MarkdownDescription: "Mount paths, such as `kv-eu/` (the trailing slash is optional; the server stores it). No globs; `sys/` cannot be filtered.",
				Required:            true,
				ElementType:         types.StringType,
				Validators: []validator.Set{
					setvalidator.SizeAtLeast(1),
					setvalidator.SizeAtMost(1000),
					setvalidator.ValueStringsAre(stringvalidator.LengthAtLeast(1)),
				},
			},
		},
	}
}

func (r *pathsFilterResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

// write sets the filter in m on the primary.
func (r *pathsFilterResource) write(ctx context.Context, m pathsFilterModel, diags *diag.Diagnostics) {
	c := clientFor(ctx, r.data, diags)
	if c == nil {
		return
	}
	var paths []string
	diags.Append(m.Paths.ElementsAs(ctx, &paths, false)...)
	if diags.HasError() {
		return
	}
	slices.Sort(paths)
	id := m.SecondaryID.ValueString()
	tflog.Info(ctx, "setting the paths filter of a performance secondary", map[string]any{"secondary_id": id, "mode": m.Mode.ValueString(), "paths": paths})
	if err := c.WritePathsFilter(ctx, id, client.PathsFilter{Mode: m.Mode.ValueString(), Paths: paths}); err != nil {
		apiError(diags, "Cannot Set Paths Filter", fmt.Sprintf("set the paths filter of performance secondary %q", id), c.Address(),
			"The provider's cluster must be the performance primary (vaultrepl_performance_primary), and the provider's token needs "+
				"update on sys/replication/performance/primary/paths-filter/.", err)
	}
}

func (r *pathsFilterResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.apply(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

func (r *pathsFilterResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.apply(ctx, req.Plan, &resp.State, &resp.Diagnostics)
}

// apply writes the planned filter (create and update are the same PUT)
// and stores it.
func (r *pathsFilterResource) apply(ctx context.Context, p tfsdk.Plan, state *tfsdk.State, diags *diag.Diagnostics) {
	var plan pathsFilterModel
	diags.Append(p.Get(ctx, &plan)...)
	if diags.HasError() {
		return
	}
	r.write(withMasking(ctx), plan, diags)
	if diags.HasError() {
		return
	}
	diags.Append(state.Set(ctx, &plan)...)
}

func (r *pathsFilterResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state pathsFilterModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx)
	c := clientFor(ctx, r.data, &resp.Diagnostics)
	if c == nil {
		return
	}
	id := state.SecondaryID.ValueString()
	f, err := c.ReadPathsFilter(ctx, id)
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot Read Paths Filter", fmt.Sprintf("read the paths filter of performance secondary %q", id), c.Address(),
			"The provider's cluster must be the performance primary; if it stopped being one, remove this resource or point the provider at the new primary.", err)
		return
	}
	if f == nil {
		resp.Diagnostics.AddWarning("Paths Filter No Longer Set",
			fmt.Sprintf("The performance primary at %s has no paths filter for secondary %q any more: it was deleted, or performance replication "+
				"was re-enabled, outside Terraform. The resource was removed from state, so the plan shows it being created again.", c.Address(), id))
		resp.State.RemoveResource(ctx)
		return
	}
	state.Mode = types.StringValue(f.Mode)
	paths, d := keepSpelling(ctx, state.Paths, f.Paths)
	resp.Diagnostics.Append(d...)
	state.Paths = paths
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

// keepSpelling returns the server's paths, each in the spelling the state
// has for it ("kv" and "kv/" are one mount path; the server stores the
// slash), so a configuration without slashes does not drift.
func keepSpelling(ctx context.Context, prior types.Set, server []string) (types.Set, diag.Diagnostics) {
	var had []string
	var diags diag.Diagnostics
	if !prior.IsNull() && !prior.IsUnknown() {
		diags.Append(prior.ElementsAs(ctx, &had, false)...)
	}
	spelled := map[string]string{}
	for _, p := range had {
		spelled[strings.TrimSuffix(p, "/")+"/"] = p
	}
	vals := make([]attr.Value, 0, len(server))
	for _, p := range server {
		if s, ok := spelled[strings.TrimSuffix(p, "/")+"/"]; ok {
			p = s
		}
		vals = append(vals, types.StringValue(p))
	}
	set, d := types.SetValue(types.StringType, vals)
	diags.Append(d...)
	return set, diags
}

func (r *pathsFilterResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state pathsFilterModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx)
	c := clientFor(ctx, r.data, &resp.Diagnostics)
	if c == nil {
		return
	}
	id := state.SecondaryID.ValueString()
	st, err := c.Replication(client.KindPerformance).Status(ctx)
	if err != nil {
		performanceKind.readStatusError(&resp.Diagnostics, c.Address(), err)
		return
	}
	if st.Mode != client.ModePrimary {
		tflog.Info(ctx, "cluster is no longer a performance primary: no paths filter to delete", map[string]any{"secondary_id": id, "mode": st.Mode})
		return
	}
	if err := c.DeletePathsFilter(ctx, id); err != nil {
		apiError(&resp.Diagnostics, "Cannot Delete Paths Filter", fmt.Sprintf("delete the paths filter of performance secondary %q", id), c.Address(), "", err)
	}
}

func (r *pathsFilterResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("secondary_id"), req, resp)
}
