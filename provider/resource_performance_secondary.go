package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

var (
	_ resource.Resource                     = (*performanceSecondaryResource)(nil)
	_ resource.ResourceWithConfigure        = (*performanceSecondaryResource)(nil)
	_ resource.ResourceWithImportState      = (*performanceSecondaryResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*performanceSecondaryResource)(nil)
	_ resource.ResourceWithConfigValidators = (*performanceSecondaryResource)(nil)
)

// perfWipeWarning is the sentence every plan that would enable a
// performance secondary carries.
const perfWipeWarning = "Enabling a cluster as a performance secondary WIPES all of its replicated data and its tokens (the provider's token " +
	"for it included) and replaces the data with the primary's; from then on it unseals with the primary's key shares and has its own " +
	"tokens, starting with a root token generated from those shares (sys/generate-root)."

// NewPerformanceSecondaryResource is the constructor of
// vaultrepl_performance_secondary.
func NewPerformanceSecondaryResource() resource.Resource { return &performanceSecondaryResource{} }

// performanceSecondaryResource differs from vaultrepl_dr_secondary where
// Vault's performance secondary differs from a DR secondary: it keeps a
// token store of its own, so re-pointing and disabling it take an ordinary
// token of that cluster (the provider's), never a DR operation token.
type performanceSecondaryResource struct{ data *providerData }

type performanceSecondaryModel struct {
	Token          types.String   `tfsdk:"token"`
	TokenWO        types.String   `tfsdk:"token_wo"`
	TokenWOVersion types.Int64    `tfsdk:"token_wo_version"`
	PrimaryAPIAddr types.String   `tfsdk:"primary_api_addr"`
	CAFile         types.String   `tfsdk:"ca_file"`
	CAPath         types.String   `tfsdk:"ca_path"`
	Timeouts       timeouts.Value `tfsdk:"timeouts"`
	secondaryStatus
}

func (r *performanceSecondaryResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_performance_secondary"
}

func (r *performanceSecondaryResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Makes the provider's cluster a **performance secondary** (`sys/replication/performance/secondary/enable`) " +
			"with an activation token from the performance primary, then waits until it streams WALs and has applied the primary's " +
			"last WAL index.\n\n" +
			"~> **Creating this resource on a cluster that is not yet a performance secondary WIPES the cluster's replicated data and " +
			"its tokens**, the provider's own token for it included. From then on the cluster unseals with the primary's key shares, " +
			"and its root token comes from `sys/generate-root` with those shares (for one run: the ephemeral `vaultrepl_root_token`): " +
			"configure a provider with that token for whatever else this cluster does (a DR primary of its own, disabling this resource).\n\n" +
			"A performance secondary is a working cluster: it serves reads itself, has its own tokens and local mounts, and forwards " +
			"writes to replicated paths to the primary. Which mounts it receives is set on the primary by " +
			"`vaultrepl_performance_paths_filter` (Vault keeps the filter there, by secondary id).\n\n" +
			"If the cluster already is a performance secondary (for example a demoted former primary), it is re-pointed with " +
			"`update-primary` and the provider's token instead, which never wipes. Changing `token`, or `token_wo_version`, replaces " +
			"the resource (disable, then enable again: a wipe), and the plan says so. If the cluster stops being a performance secondary " +
			"outside Terraform, the next refresh removes the resource from state with a warning.",
		Attributes: map[string]schema.Attribute{
			"token": schema.StringAttribute{
				MarkdownDescription: "Activation token from the performance primary (`vaultrepl_performance_secondary_token.token`; sensitive, " +
					"single use), stored in the state. With Terraform 1.11 or later prefer `token_wo`. Exactly one of `token` and `token_wo` " +
					"is needed to enable or re-point the cluster. Changing it **replaces** the resource, which wipes the cluster again.",
				Optional:  true,
				Sensitive: true,
				PlanModifiers: []planmodifier.String{
					stringplanmodifier.RequiresReplaceIf(tokenRequiresReplace,
						"Changing token disables performance replication on the cluster and enables it again with the new token, which wipes it.",
						"Changing `token` disables performance replication on the cluster and enables it again with the new token, which **wipes** it."),
				},
			},
			"token_wo": schema.StringAttribute{
				MarkdownDescription: "Write-only activation token (Terraform 1.11 or later): the `token` of the ephemeral " +
					"`vaultrepl_performance_secondary_token`, never stored in the plan or the state. Read only when the cluster is enabled " +
					"or re-pointed; change `token_wo_version` to use a new one. Conflicts with `token`.",
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
			},
			"token_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Version of `token_wo`, stored in the state. Changing it from one number to another **replaces** the " +
					"resource with the `token_wo` of that apply, which **wipes** the cluster again. Setting it where it was null, or removing it, is only stored.",
				Optional: true,
				PlanModifiers: []planmodifier.Int64{
					int64planmodifier.RequiresReplaceIf(versionRequiresReplace,
						"Changing token_wo_version disables performance replication on the cluster and enables it again with token_wo, which wipes it.",
						"Changing `token_wo_version` disables performance replication on the cluster and enables it again with `token_wo`, which **wipes** it."),
				},
			},
			"primary_api_addr": schema.StringAttribute{
				MarkdownDescription: "API address of the performance primary, where the activation token is unwrapped. Defaults to the token's " +
					"`addr` claim. The provider also reads the primary's (unauthenticated) performance status there while it waits. Only used " +
					"when enabling or re-pointing; changing it later is only stored.",
				Optional:   true,
				Validators: []validator.String{apiAddrValidator{}},
			},
			"ca_file": schema.StringAttribute{
				MarkdownDescription: "Path, **on the secondary's server**, of a PEM CA certificate trusted for the primary's API when it " +
					"unwraps the token. Only used when enabling or re-pointing.",
				Optional: true,
			},
			"ca_path": schema.StringAttribute{
				MarkdownDescription: "Directory, **on the secondary's server**, of PEM CA certificates trusted for the primary's API. " +
					"Only used when enabling or re-pointing.",
				Optional: true,
			},
			"timeouts": createTimeoutAttribute(ctx, "the secondary to reach `stream-wals` at the primary's last WAL index", defaultSecondaryCreateTimeout.String()),
		},
	}
	secondaryStatusAttributes(performanceKind, resp.Schema.Attributes)
}

func (r *performanceSecondaryResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{resourcevalidator.Conflicting(path.MatchRoot("token"), path.MatchRoot("token_wo"))}
}

func (r *performanceSecondaryResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *performanceSecondaryResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	switch {
	case req.Plan.Raw.IsNull():
		resp.Diagnostics.AddWarning("Destroying Disables The Performance Secondary",
			"Destroying this vaultrepl_performance_secondary disables performance replication on the cluster: it keeps its data and tokens, "+
				"stops following the primary and becomes a standalone cluster. The provider's token must be one of the secondary's own.")
	case req.State.Raw.IsNull():
		resp.Diagnostics.AddWarning("Creating A Performance Secondary Wipes The Cluster",
			perfWipeWarning+" If the cluster is already a performance secondary, it is re-pointed with update-primary instead and keeps its data.")
	default:
		var plan, state performanceSecondaryModel
		resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if resp.Diagnostics.HasError() {
			return
		}
		replaced := (!state.TokenWOVersion.IsNull() && !plan.TokenWOVersion.IsNull() && !plan.TokenWOVersion.Equal(state.TokenWOVersion)) ||
			(!state.Token.IsNull() && !plan.Token.IsNull() && !plan.Token.Equal(state.Token))
		if replaced {
			resp.Diagnostics.AddWarning("Replacing The Performance Secondary Wipes The Cluster",
				fmt.Sprintf("The activation token changed, so vaultrepl_performance_secondary (secondary %q of performance replication set %s) is "+
					"replaced: performance replication is disabled and enabled again. %s", state.SecondaryID.ValueString(), state.ClusterID.ValueString(), perfWipeWarning))
		}
	}
}

// activationToken is token, else token_wo from the config.
func (r *performanceSecondaryResource) activationToken(ctx context.Context, req resource.CreateRequest, plan performanceSecondaryModel, resp *resource.CreateResponse) string {
	if tok := plan.Token.ValueString(); tok != "" {
		return tok
	}
	var wo types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("token_wo"), &wo)...)
	return wo.ValueString()
}

func (r *performanceSecondaryResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan performanceSecondaryModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	token := r.activationToken(ctx, req, plan, resp)
	ctx = withMasking(ctx, token)
	if resp.Diagnostics.HasError() {
		return
	}
	if token == "" {
		resp.Diagnostics.AddError("No Activation Token", performanceKind.words(noActivationTokenDetail))
		return
	}
	timeout, d := plan.Timeouts.Create(ctx, defaultSecondaryCreateTimeout)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	c, st := performanceKind.clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	activation := client.Activation{Token: token, PrimaryAPIAddr: plan.PrimaryAPIAddr.ValueString(),
		CAFile: plan.CAFile.ValueString(), CAPath: plan.CAPath.ValueString()}
	if !r.enableOrRepoint(ctx, c, st, activation, resp) {
		return
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	final, last, err := waitCaughtUp(waitCtx, c, performanceKind, plan.PrimaryAPIAddr.ValueString(), token)
	plan.secondaryStatus = unknownStatus()
	if final != nil {
		plan.setStatus(final)
	}
	// Saved even on timeout: the cluster WAS enabled (and tainted).
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	if err != nil {
		resp.Diagnostics.AddError("Timed Out Waiting For Performance Secondary",
			fmt.Sprintf("The cluster at %s was enabled as a performance secondary, but it did not reach state stream-wals at the primary's "+
				"last WAL index within %s. Last seen: %s.\n\nThe resource is saved as tainted, and replacing it would wipe the cluster again. "+
				"If replication catches up (watch sys/replication/performance/status), run `terraform untaint` on it.\n\nOriginal Error: %s",
				c.Address(), timeout, last, err))
	}
}

// enableOrRepoint enables the cluster (a wipe) or, when it already is a
// performance secondary, re-points it with update-primary. It reports
// whether the call succeeded.
func (r *performanceSecondaryResource) enableOrRepoint(ctx context.Context, c *client.Client, st *client.DRStatus, a client.Activation, resp *resource.CreateResponse) bool {
	var (
		warnings client.Warnings
		err      error
	)
	switch {
	case st.Mode == client.ModePrimary:
		resp.Diagnostics.AddError("Cluster Is A Performance Primary",
			fmt.Sprintf("The cluster at %s is a performance primary (performance replication set %s), so it cannot be enabled as a performance "+
				"secondary.\n\nTo make it follow another primary of its set, demote it first (destroy_action = %q on its "+
				"vaultrepl_performance_primary); then this resource re-points it without a wipe.", c.Address(), st.ClusterID, destroyDemote))
		return false
	case st.IsSecondary():
		tflog.Info(ctx, "cluster is already a performance secondary: re-pointing it with update-primary (no wipe)", map[string]any{
			"cluster_id": st.ClusterID, "secondary_id": st.SecondaryID,
		})
		warnings, err = c.PerformanceUpdatePrimary(ctx, a)
		if err != nil {
			apiError(&resp.Diagnostics, "Cannot Re-point Performance Secondary", "re-point the performance secondary with update-primary", c.Address(),
				"update-primary needs a token of this cluster (its own, not the primary's) with update on "+
					"sys/replication/performance/secondary/update-primary, and an unused activation token of its set.", err)
			return false
		}
	default:
		tflog.Info(ctx, "enabling performance secondary: the cluster's replicated data and tokens are wiped", map[string]any{"address": c.Address()})
		warnings, err = c.Replication(client.KindPerformance).EnableSecondary(ctx, a)
		if err != nil {
			apiError(&resp.Diagnostics, "Cannot Enable Performance Secondary", "enable the cluster as a performance secondary", c.Address(),
				"The activation token is single use and expires (ttl): if it was already used or expired, mint a new one. If the primary "+
					"could not be reached at the token's address, set primary_api_addr. A refused token changes nothing on the cluster.", err)
			return false
		}
	}
	logWarnings(ctx, warnings)
	return true
}

func (r *performanceSecondaryResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state performanceSecondaryModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx, state.Token.ValueString())
	c, st := performanceKind.clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	wasID := state.ClusterID.ValueString()
	if !st.IsSecondary() || (wasID != "" && st.ClusterID != wasID) {
		resp.Diagnostics.AddWarning("Cluster Is No Longer This Performance Secondary",
			fmt.Sprintf("The cluster at %s is no longer a performance secondary of performance replication set %s (mode %q, set %q): it was "+
				"promoted, disabled or re-enabled outside Terraform. The resource was removed from state, so the plan shows it being created "+
				"again, which would WIPE the cluster if it is not a performance secondary by then. If that change was on purpose, remove this "+
				"resource from the configuration instead.", c.Address(), wasID, st.Mode, st.ClusterID))
		resp.State.RemoveResource(ctx)
		return
	}
	state.setStatus(st)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *performanceSecondaryResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// In-place changes only matter for a later enable or re-point: stored.
	var plan, state performanceSecondaryModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.secondaryStatus = state.secondaryStatus
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *performanceSecondaryResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state performanceSecondaryModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx, state.Token.ValueString())
	c, st := performanceKind.clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	if !st.IsSecondary() {
		tflog.Info(ctx, "cluster is no longer a performance secondary: nothing to disable", map[string]any{"mode": st.Mode})
		return
	}
	warnings, err := c.PerformanceDisableSecondary(ctx)
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot Disable Performance Secondary", "disable performance replication on the secondary", c.Address(),
			"Enabling wiped the secondary's tokens: configure the provider with one of its own (a root token generated on it with the "+
				"primary's key shares: `vault operator generate-root`, or the ephemeral vaultrepl_root_token).", err)
		return
	}
	logWarnings(ctx, warnings)
}

func (r *performanceSecondaryResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importSecondary(ctx, performanceKind, r.data, req, resp)
}
