package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

var (
	_ resource.Resource                     = (*drSecondaryResource)(nil)
	_ resource.ResourceWithConfigure        = (*drSecondaryResource)(nil)
	_ resource.ResourceWithImportState      = (*drSecondaryResource)(nil)
	_ resource.ResourceWithModifyPlan       = (*drSecondaryResource)(nil)
	_ resource.ResourceWithConfigValidators = (*drSecondaryResource)(nil)
)

const defaultSecondaryCreateTimeout = 10 * time.Minute

// wipeWarning is the sentence every plan that would enable a secondary
// carries.
const wipeWarning = "Enabling a cluster as a DR secondary WIPES all of its replicated data (secrets, tokens, policies, roles) " +
	"and replaces it with the primary's; from then on it unseals with the primary's key shares."

// NewDRSecondaryResource is the constructor of vaultrepl_dr_secondary.
func NewDRSecondaryResource() resource.Resource { return &drSecondaryResource{} }

type drSecondaryResource struct{ data *providerData }

type drSecondaryModel struct {
	Token              types.String   `tfsdk:"token"`
	PrimaryAPIAddr     types.String   `tfsdk:"primary_api_addr"`
	CAFile             types.String   `tfsdk:"ca_file"`
	CAPath             types.String   `tfsdk:"ca_path"`
	DROperationToken   types.String   `tfsdk:"dr_operation_token"`
	TokenWO            types.String   `tfsdk:"token_wo"`
	TokenWOVersion     types.Int64    `tfsdk:"token_wo_version"`
	DROperationTokenWO types.String   `tfsdk:"dr_operation_token_wo"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`
	secondaryStatus
}

func (r *drSecondaryResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_dr_secondary"
}

func (r *drSecondaryResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Makes the provider's cluster a **DR secondary** with an activation token from the primary, then waits " +
			"until it streams WALs and its merkle root equals the primary's.\n\n" +
			"~> **Creating this resource on a cluster that is not yet a DR secondary WIPES the cluster's replicated data** " +
			"(secrets, tokens, policies, roles) and replaces it with the primary's. From then on the cluster unseals with the " +
			"primary's key shares and accepts only the primary's tokens.\n\n" +
			"If the cluster already is a DR secondary (for example a demoted former primary), it is re-pointed with " +
			"`update-primary` instead, which needs `dr_operation_token` (or `dr_operation_token_wo`) and never wipes. Changing `token`, " +
			"or `token_wo_version`, replaces the resource (disable, then enable again: a wipe), and the plan says so. If the cluster stops being a secondary outside Terraform, " +
			"the next refresh removes the resource from state with a warning, because re-creating it would wipe the cluster.",
		Attributes: map[string]schema.Attribute{
			"token": schema.StringAttribute{
				MarkdownDescription: "Activation token from the primary (`vaultrepl_dr_secondary_token.token`; sensitive, single use), stored in the state. " +
					"With Terraform 1.11 or later prefer `token_wo`, which keeps it out of the state. Exactly one of `token` and `token_wo` is needed " +
					"to enable or re-point the cluster. " +
					"Changing it **replaces** the resource: replication is disabled and enabled again with the new token, which wipes the " +
					"cluster's replicated data again. After an import the first token set is only stored, and removing it (for example to " +
					"move to `token_wo`) is only stored too: it leaves the state.",
				Optional:  true,
				Sensitive: true,
				PlanModifiers: []planmodifier.String{
					stringplanmodifier.RequiresReplaceIf(tokenRequiresReplace,
						"Changing token disables DR replication on the cluster and enables it again with the new token, which wipes its replicated data.",
						"Changing `token` disables DR replication on the cluster and enables it again with the new token, which **wipes** its replicated data."),
				},
			},
			"token_wo": schema.StringAttribute{
				MarkdownDescription: "Write-only activation token (Terraform 1.11 or later): the `token` of the ephemeral " +
					"`vaultrepl_dr_secondary_token`, never stored in the plan or the state. It is read only when the cluster is enabled or " +
					"re-pointed (create, or a replacement); Terraform cannot see it change, so a new value does nothing by itself: change " +
					"`token_wo_version` to use it. Conflicts with `token`.",
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
			},
			"token_wo_version": schema.Int64Attribute{
				MarkdownDescription: "Version of `token_wo`, stored in the state. Changing it from one number to another **replaces** the resource, " +
					"exactly as changing `token` does: DR replication is disabled on the cluster and enabled again with the `token_wo` of " +
					"that apply, which **wipes** its replicated data again (the plan shows the replacement and a warning). Setting it where it " +
					"was null, or removing it, is only stored — so moving from `token` to `token_wo` never replaces the resource.",
				Optional: true,
				PlanModifiers: []planmodifier.Int64{
					int64planmodifier.RequiresReplaceIf(versionRequiresReplace,
						"Changing token_wo_version disables DR replication on the cluster and enables it again with token_wo, which wipes its replicated data.",
						"Changing `token_wo_version` disables DR replication on the cluster and enables it again with `token_wo`, which **wipes** its replicated data."),
				},
			},
			"primary_api_addr": schema.StringAttribute{
				MarkdownDescription: "API address of the primary, where the activation token is unwrapped. Defaults to the token's `addr` claim. " +
					"The provider also reads the primary's (unauthenticated) DR status there, with the provider's own TLS settings, while it waits for the secondary to catch up. " +
					"Only used when enabling or re-pointing; changing it later is only stored.",
				Optional:   true,
				Validators: []validator.String{apiAddrValidator{}},
			},
			"ca_file": schema.StringAttribute{
				MarkdownDescription: "Path, **on the secondary's server**, of a PEM CA certificate that the secondary trusts for the primary's API " +
					"when it unwraps the token. Only used when enabling or re-pointing.",
				Optional: true,
			},
			"ca_path": schema.StringAttribute{
				MarkdownDescription: "Directory, **on the secondary's server**, of PEM CA certificates trusted for the primary's API. " +
					"Only used when enabling or re-pointing.",
				Optional: true,
			},
			"dr_operation_token": schema.StringAttribute{
				MarkdownDescription: "DR operation token of this cluster (sensitive). Needed when the cluster already is a DR secondary: it is then " +
					"re-pointed with `update-primary`, without a wipe. Also used to disable replication on destroy when the provider's token is " +
					"not accepted (after enabling, the cluster only knows the primary's tokens).",
				Optional:  true,
				Sensitive: true,
			},
			"dr_operation_token_wo": schema.StringAttribute{
				MarkdownDescription: "Write-only `dr_operation_token` (Terraform 1.11 or later), for example the `token` of the ephemeral " +
					"`vaultrepl_dr_operation_token`: never stored in the plan or the state, read only when an existing DR secondary is re-pointed. " +
					"Not available on destroy, so destroying relies on the provider's token. Conflicts with `dr_operation_token`.",
				Optional:  true,
				Sensitive: true,
				WriteOnly: true,
			},
			"timeouts": createTimeoutAttribute(ctx, "the secondary to reach `stream-wals` with the primary's merkle root", defaultSecondaryCreateTimeout.String()),
		},
	}
	secondaryStatusAttributes(drKind, resp.Schema.Attributes)
}

// tokenRequiresReplace replaces on a token change, except when the prior
// token is unknown to state (after an import: the new one is stored) or
// the new one is null (moving to token_wo: it leaves the state).
func tokenRequiresReplace(_ context.Context, req planmodifier.StringRequest, resp *stringplanmodifier.RequiresReplaceIfFuncResponse) {
	resp.RequiresReplace = !req.StateValue.IsNull() && !req.PlanValue.IsNull()
}

// versionRequiresReplace replaces when a *_wo_version changes from one
// number to another; setting a first one or removing it is stored only.
func versionRequiresReplace(_ context.Context, req planmodifier.Int64Request, resp *int64planmodifier.RequiresReplaceIfFuncResponse) {
	resp.RequiresReplace = !req.StateValue.IsNull() && !req.PlanValue.IsNull() && !req.PlanValue.IsUnknown()
}

func (r *drSecondaryResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return []resource.ConfigValidator{
		resourcevalidator.Conflicting(path.MatchRoot("token"), path.MatchRoot("token_wo")),
		resourcevalidator.Conflicting(path.MatchRoot("dr_operation_token"), path.MatchRoot("dr_operation_token_wo")),
	}
}

// secondaryCredentials are the activation token and DR operation token of
// one apply: the stored arguments, else the write-only ones from config.
type secondaryCredentials struct{ token, opToken string }

func readSecondaryCredentials(ctx context.Context, cfg tfsdk.Config, plan drSecondaryModel) (secondaryCredentials, diag.Diagnostics) {
	var wo drSecondaryModel
	diags := cfg.Get(ctx, &wo)
	creds := secondaryCredentials{token: plan.Token.ValueString(), opToken: plan.DROperationToken.ValueString()}
	if creds.token == "" {
		creds.token = wo.TokenWO.ValueString()
	}
	if creds.opToken == "" {
		creds.opToken = wo.DROperationTokenWO.ValueString()
	}
	return creds, diags
}

func (r *drSecondaryResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *drSecondaryResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	switch {
	case req.Plan.Raw.IsNull():
		resp.Diagnostics.AddWarning("Destroying Disables The DR Secondary",
			"Destroying this vaultrepl_dr_secondary disables DR replication on the cluster: it keeps its data, stops following the primary "+
				"and becomes a standalone cluster. Enabling it as a secondary again later wipes it.")
	case req.State.Raw.IsNull():
		resp.Diagnostics.AddWarning("Creating A DR Secondary Wipes The Cluster",
			wipeWarning+" If the cluster is already a DR secondary of the same DR set, it is re-pointed with update-primary instead and keeps its data.")
	default:
		var plan, state drSecondaryModel
		resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if resp.Diagnostics.HasError() {
			return
		}
		if !state.TokenWOVersion.IsNull() && !plan.TokenWOVersion.IsNull() && !plan.TokenWOVersion.Equal(state.TokenWOVersion) {
			resp.Diagnostics.AddAttributeWarning(path.Root("token_wo_version"), "Replacing The DR Secondary Wipes The Cluster",
				fmt.Sprintf("token_wo_version changed, so vaultrepl_dr_secondary (secondary %q of DR set %s) is replaced: DR replication is disabled and enabled "+
					"again with token_wo. %s", state.SecondaryID.ValueString(), state.ClusterID.ValueString(), wipeWarning))
		}
		if !state.Token.IsNull() && !plan.Token.IsNull() && !plan.Token.Equal(state.Token) {
			resp.Diagnostics.AddAttributeWarning(path.Root("token"), "Replacing The DR Secondary Wipes The Cluster",
				fmt.Sprintf("token changed, so vaultrepl_dr_secondary (secondary %q of DR set %s) is replaced: DR replication is disabled and enabled "+
					"again with the new token. %s", state.SecondaryID.ValueString(), state.ClusterID.ValueString(), wipeWarning))
		}
	}
}

func (r *drSecondaryResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan drSecondaryModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	creds, d := readSecondaryCredentials(ctx, req.Config, plan)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx, creds.token, creds.opToken)
	if creds.token == "" {
		resp.Diagnostics.AddError("No Activation Token", noActivationTokenDetail)
		return
	}
	timeout, d := plan.Timeouts.Create(ctx, defaultSecondaryCreateTimeout)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	c, st := clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	activation := client.Activation{
		Token:          creds.token,
		PrimaryAPIAddr: plan.PrimaryAPIAddr.ValueString(),
		CAFile:         plan.CAFile.ValueString(),
		CAPath:         plan.CAPath.ValueString(),
	}
	switch {
	case st.Mode == client.ModePrimary:
		resp.Diagnostics.AddError("Cluster Is A DR Primary",
			fmt.Sprintf("The cluster at %s is a DR primary (DR set %s), so it cannot be enabled as a secondary.\n\n"+
				"To make it follow another primary of its DR set (failback), demote it first: set destroy_action = %q on its "+
				"vaultrepl_dr_primary and destroy that, or call sys/replication/dr/primary/demote; then this resource re-points it "+
				"without a wipe. Check also that the provider's address points at the cluster you meant.", c.Address(), st.ClusterID, destroyDemote))
		return
	case st.IsSecondary():
		if creds.opToken == "" {
			resp.Diagnostics.AddAttributeError(path.Root("dr_operation_token"), "DR Operation Token Required To Re-point Secondary",
				fmt.Sprintf("The cluster at %s is already a DR secondary (DR set %s, secondary id %q). The provider re-points an existing secondary "+
					"with update-primary, which keeps its data but needs dr_operation_token; it never disables and re-enables it on its own, "+
					"because that would wipe it.\n\nGenerate a DR operation token on this cluster with the primary's unseal key shares "+
					"(`vault operator generate-root -dr-token`, or the ephemeral vaultrepl_dr_operation_token) or use a DR operation batch token from the primary, "+
					"and set dr_operation_token or dr_operation_token_wo.",
					c.Address(), st.ClusterID, st.SecondaryID))
			return
		}
		tflog.Info(ctx, "cluster is already a DR secondary: re-pointing it with update-primary (no wipe)", map[string]any{
			"cluster_id": st.ClusterID, "secondary_id": st.SecondaryID,
		})
		warnings, err := c.UpdatePrimary(ctx, creds.opToken, activation)
		if err != nil {
			apiError(&resp.Diagnostics, "Cannot Re-point DR Secondary", "re-point the DR secondary with update-primary", c.Address(),
				"update-primary works only within one DR set and needs a valid dr_operation_token for this cluster and an unused activation token. "+
					"Nothing was changed on the cluster.", err)
			return
		}
		logWarnings(ctx, warnings)
	default:
		tflog.Info(ctx, "enabling DR secondary: the cluster's replicated data is wiped", map[string]any{"address": c.Address()})
		warnings, err := c.EnableSecondary(ctx, activation)
		if err != nil {
			apiError(&resp.Diagnostics, "Cannot Enable DR Secondary", "enable the cluster as a DR secondary", c.Address(),
				"The activation token is single use and expires (ttl): if it was already used or expired, mint a new one "+
					"(replace its vaultrepl_dr_secondary_token). If the primary could not be reached at the token's address, set primary_api_addr; "+
					"if its certificate is not trusted, set ca_file or ca_path. A refused token changes nothing on the cluster.", err)
			return
		}
		logWarnings(ctx, warnings)
	}

	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	final, last, err := waitCaughtUp(waitCtx, c, drKind, plan.PrimaryAPIAddr.ValueString(), creds.token)
	plan.secondaryStatus = unknownStatus()
	if final != nil {
		plan.setStatus(final)
	}
	// Saved even on timeout: the cluster WAS enabled. Terraform then marks it
	// tainted, and the error says how to avoid a wiping replacement.
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
	if err != nil {
		resp.Diagnostics.AddError("Timed Out Waiting For DR Secondary",
			fmt.Sprintf("The cluster at %s was enabled as a DR secondary, but it did not reach state stream-wals with the primary's merkle root "+
				"within %s. Last seen: %s.\n\nThe resource is saved as tainted, and replacing it would wipe the cluster again. If replication "+
				"catches up (watch sys/replication/dr/status), run `terraform untaint` on it; otherwise check that the secondary can reach the "+
				"primary's cluster address, and that this machine can read the primary's status (primary_api_addr).\n\nOriginal Error: %s",
				c.Address(), timeout, last, err))
	}
}

func short(root string) string {
	if len(root) > 12 {
		return root[:12]
	}
	return root
}

func (r *drSecondaryResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state drSecondaryModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx, state.Token.ValueString(), state.DROperationToken.ValueString())
	c, st := clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	wasID := state.ClusterID.ValueString()
	switch {
	case !st.IsSecondary():
		resp.Diagnostics.AddWarning("Cluster Is No Longer A DR Secondary",
			fmt.Sprintf("The cluster at %s is no longer a DR secondary of DR set %s (mode is now %q): it was promoted, disabled or re-enabled "+
				"outside Terraform. The resource was removed from state, so the plan shows it being created again.\n\n"+
				"Applying that would WIPE the cluster if it is not a secondary by then: %s If the cluster was promoted on purpose, "+
				"remove this resource from the configuration instead.", c.Address(), wasID, st.Mode, wipeWarning))
		resp.State.RemoveResource(ctx)
		return
	case wasID != "" && st.ClusterID != wasID:
		resp.Diagnostics.AddWarning("DR Secondary Belongs To Another DR Set",
			fmt.Sprintf("The cluster at %s is now a DR secondary of DR set %s, not %s: it was re-enabled outside Terraform. "+
				"The resource was removed from state, so the plan shows it being created again (with dr_operation_token that re-points it without a wipe, "+
				"and only within its DR set).", c.Address(), st.ClusterID, wasID))
		resp.State.RemoveResource(ctx)
		return
	}
	state.setStatus(st)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *drSecondaryResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Every in-place change (primary_api_addr, ca_file, ca_path,
	// dr_operation_token, timeouts, a token after import) only matters for a
	// later enable or re-point: it is stored, nothing is called.
	var plan, state drSecondaryModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.secondaryStatus = state.secondaryStatus
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *drSecondaryResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state drSecondaryModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx, state.Token.ValueString(), state.DROperationToken.ValueString())
	c, st := clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	if !st.IsSecondary() {
		tflog.Info(ctx, "cluster is no longer a DR secondary: nothing to disable", map[string]any{"mode": st.Mode})
		return
	}
	warnings, err := c.DisableSecondary(ctx, "")
	if err != nil && client.IsPermissionDenied(err) && state.DROperationToken.ValueString() != "" {
		tflog.Info(ctx, "provider token refused for secondary/disable: retrying with dr_operation_token")
		warnings, err = c.DisableSecondary(ctx, state.DROperationToken.ValueString())
	}
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot Disable DR Secondary", "disable DR replication on the secondary", c.Address(),
			"After enabling, a secondary only accepts its primary's tokens: configure the provider with a token of the primary "+
				"(with update on sys/replication/dr/secondary/disable), or set dr_operation_token.", err)
		return
	}
	logWarnings(ctx, warnings)
}

func (r *drSecondaryResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importSecondary(ctx, drKind, r.data, req, resp)
}

// noActivationTokenDetail says what to do when neither token nor token_wo
// holds a token at create time.
const noActivationTokenDetail = "Enabling or re-pointing a DR secondary needs an activation token, and neither token nor token_wo holds one.\n\n" +
	"If token_wo comes from the ephemeral vaultrepl_dr_secondary_token, it mints nothing when its cluster is not a DR primary at apply time " +
	"(check its provider's address, and that it depends on what makes the cluster a primary), or when the primary already admits that " +
	"secondary_id (already_admitted): then revoke the id on the primary first (vault write sys/replication/dr/primary/revoke-secondary id=...), " +
	"or choose another secondary_id, and apply again. Nothing was changed on the cluster."
