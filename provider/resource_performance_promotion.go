package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

var (
	_ resource.Resource              = (*performancePromotionResource)(nil)
	_ resource.ResourceWithConfigure = (*performancePromotionResource)(nil)
)

// NewPerformancePromotionResource is the constructor of
// vaultrepl_performance_promotion.
func NewPerformancePromotionResource() resource.Resource { return &performancePromotionResource{} }

// performancePromotionResource has vaultrepl_dr_promotion's shape (an
// event recorded once, never repeated by a refresh) without its
// credentials: a performance secondary has its own tokens, so Vault
// promotes it with an ordinary token of that cluster (the provider's).
type performancePromotionResource struct{ data *providerData }

type performancePromotionModel struct {
	Force              types.Bool     `tfsdk:"force"`
	PrimaryClusterAddr types.String   `tfsdk:"primary_cluster_addr"`
	ClusterID          types.String   `tfsdk:"cluster_id"`
	CurrentMode        types.String   `tfsdk:"current_mode"`
	Promoted           types.Bool     `tfsdk:"promoted"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`
}

func (r *performancePromotionResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_performance_promotion"
}

func (r *performancePromotionResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Makes the provider's cluster the **performance primary** of its performance replication set, and records it.\n\n" +
			"- On a performance secondary it promotes it (`sys/replication/performance/secondary/promote`, with the provider's token, " +
			"which must be one of the secondary's own) and waits until it reports performance mode `primary`.\n" +
			"- On a cluster that already is the performance primary it only records that (`promoted = false`). This is the step after " +
			"promoting the DR secondary of a performance primary with `vaultrepl_dr_promotion`: the promoted cluster takes over the " +
			"performance primary's place in the same set (its performance secondaries reconnect to it), and this resource records and " +
			"checks it.\n" +
			"- A DR secondary is refused: promote it with `vaultrepl_dr_promotion` first. (The DR secondary of a performance " +
			"**secondary** needs no performance promotion at all: promoted with `vaultrepl_dr_promotion`, it reconnects to the performance " +
			"primary as a performance secondary; read it with `vaultrepl_performance_status`.)\n\n" +
			"Like `vaultrepl_dr_promotion` it is an event: a later demotion shows in `current_mode` and never triggers another promotion; " +
			"replace it deliberately (`terraform apply -replace=...`) to promote again. Destroying it changes nothing on the cluster.",
		Attributes: map[string]schema.Attribute{
			"force": schema.BoolAttribute{
				MarkdownDescription: fmt.Sprintf("Promote even if the secondary reports being behind its primary. Without it, a promotion refused "+
					"as behind is retried for up to %s (within the create timeout). Defaults to `false`.", promoteCatchUpGrace),
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
			},
			"primary_cluster_addr": schema.StringAttribute{
				MarkdownDescription: "Cluster address (host:port or https://host:port) that this cluster advertises to performance secondaries " +
					"once it is the primary. Defaults to its own cluster address.",
				Optional:   true,
				Validators: []validator.String{clusterAddrValidator{}},
			},
			"cluster_id": schema.StringAttribute{
				MarkdownDescription: "Id of the performance replication set the cluster leads (unchanged by a promotion).",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"current_mode": schema.StringAttribute{
				MarkdownDescription: "The cluster's performance mode at the last refresh (`primary` right after the promotion). It shows drift, " +
					"such as a later demotion, without triggering another promotion.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"promoted": schema.BoolAttribute{
				MarkdownDescription: "`true` when this resource promoted a performance secondary; `false` when the cluster already was the " +
					"performance primary (for example after `vaultrepl_dr_promotion` of a performance primary's DR secondary).",
				Computed: true,
			},
			"timeouts": createTimeoutAttribute(ctx, "the promotion and the cluster reporting performance mode `primary`", defaultPromotionCreateTimeout.String()),
		},
	}
}

func (r *performancePromotionResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *performancePromotionResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan performancePromotionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx)
	timeout, d := plan.Timeouts.Create(ctx, defaultPromotionCreateTimeout)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, st := performanceStatusToPromote(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	if st.Mode == client.ModePrimary {
		tflog.Info(ctx, "the cluster already is the performance primary: promotion recorded", map[string]any{"cluster_id": st.ClusterID})
		plan.ClusterID, plan.CurrentMode, plan.Promoted = types.StringValue(st.ClusterID), types.StringValue(st.Mode), types.BoolValue(false)
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
		return
	}
	tflog.Info(ctx, "promoting performance secondary", map[string]any{"cluster_id": st.ClusterID, "force": plan.Force.ValueBool()})
	err := promoteRetrying(ctx, func(ctx context.Context) (client.Warnings, error) {
		return c.PerformancePromote(ctx, plan.PrimaryClusterAddr.ValueString(), plan.Force.ValueBool())
	})
	if err != nil {
		advice := "The provider's token must be one of this cluster's own (a performance secondary does not honour its primary's tokens). "
		if client.IsPromotionBehind(err) {
			advice = fmt.Sprintf("It did not catch up within %s: wait and apply again, or set force = true. ", min(promoteCatchUpGrace, timeout))
		}
		apiError(&resp.Diagnostics, "Cannot Promote Performance Secondary", "promote the performance secondary", c.Address(), advice+"Nothing was changed.", err)
		return
	}
	last, err := waitPerformancePrimary(ctx, c, &plan)
	plan.Promoted = types.BoolValue(true)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	if err != nil {
		resp.Diagnostics.AddError("Timed Out Waiting For Performance Promotion",
			fmt.Sprintf("The cluster at %s accepted the promotion but did not report performance mode primary within %s. Last seen: %s. "+
				"The resource is saved as tainted; check sys/replication/performance/status and do not promote again blindly.\n\nOriginal Error: %s",
				c.Address(), timeout, last, err))
	}
}

// performanceStatusToPromote returns the client and the performance status
// of a cluster that is a performance secondary (to promote) or already the
// performance primary (a DR promotion made it one: to record); otherwise
// nil and an error in diags.
func performanceStatusToPromote(ctx context.Context, data *providerData, diags *diag.Diagnostics) (*client.Client, *client.DRStatus) {
	c, dr := drKind.clientAndStatus(ctx, data, diags)
	if dr == nil {
		return nil, nil
	}
	if dr.IsSecondary() {
		diags.AddError("Cluster Is A DR Secondary",
			fmt.Sprintf("The cluster at %s is a DR secondary (DR set %s). Promote it with vaultrepl_dr_promotion first: the DR secondary of a "+
				"performance primary then becomes the performance primary of the same set, which this resource records (make it depend on "+
				"the vaultrepl_dr_promotion).", c.Address(), dr.ClusterID))
		return nil, nil
	}
	st, err := performanceKind.status(ctx, c)
	if err != nil {
		performanceKind.readStatusError(diags, c.Address(), err)
		return nil, nil
	}
	if st.Mode != client.ModePrimary && !st.IsSecondary() {
		diags.AddError("Cluster Is Not A Performance Secondary",
			fmt.Sprintf("The cluster at %s is not in a performance replication set (performance mode %q), so there is nothing to promote. "+
				"Check the provider's address, or use vaultrepl_performance_primary to start a new set.", c.Address(), st.Mode))
		return nil, nil
	}
	return c, st
}

// waitPerformancePrimary polls until c reports performance mode primary,
// keeping the last status seen in plan; on failure last says what it was.
func waitPerformancePrimary(ctx context.Context, c *client.Client, plan *performancePromotionModel) (last string, err error) {
	return poll(ctx, "waiting for the performance promotion to take effect", func(ctx context.Context) (bool, string, error) {
		st, err := performanceKind.status(ctx, c)
		if err != nil {
			return false, "status: " + errorText(err), nil
		}
		plan.ClusterID, plan.CurrentMode = types.StringValue(st.ClusterID), types.StringValue(st.Mode)
		return st.Mode == client.ModePrimary, fmt.Sprintf("performance mode %s state %s", st.Mode, st.State), nil
	})
}

func (r *performancePromotionResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state performancePromotionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx)
	_, st := performanceKind.clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	// Never removed and never re-planned: see the resource description.
	state.CurrentMode = types.StringValue(st.Mode)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *performancePromotionResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// The promotion already happened: changed arguments are stored only.
	var plan, state performancePromotionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ClusterID, plan.CurrentMode, plan.Promoted = state.ClusterID, state.CurrentMode, state.Promoted
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *performancePromotionResource) Delete(ctx context.Context, _ resource.DeleteRequest, _ *resource.DeleteResponse) {
	tflog.Info(ctx, "destroying vaultrepl_performance_promotion changes nothing on the cluster")
}
