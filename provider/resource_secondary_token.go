package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
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
	_ resource.Resource                = (*secondaryTokenResource)(nil)
	_ resource.ResourceWithConfigure   = (*secondaryTokenResource)(nil)
	_ resource.ResourceWithImportState = (*secondaryTokenResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*secondaryTokenResource)(nil)
)

const defaultTokenTTL = "30m"

// NewDRSecondaryTokenResource is the constructor of vaultrepl_dr_secondary_token.
func NewDRSecondaryTokenResource() resource.Resource { return &secondaryTokenResource{kind: drKind} }

// NewPerformanceSecondaryTokenResource is the constructor of
// vaultrepl_performance_secondary_token.
func NewPerformanceSecondaryTokenResource() resource.Resource {
	return &secondaryTokenResource{kind: performanceKind}
}

// secondaryTokenResource is vaultrepl_dr_secondary_token and
// vaultrepl_performance_secondary_token.
type secondaryTokenResource struct {
	data *providerData
	kind *replKind
}

type secondaryTokenModel struct {
	SecondaryID        types.String `tfsdk:"secondary_id"`
	TTL                types.String `tfsdk:"ttl"`
	SecondaryPublicKey types.String `tfsdk:"secondary_public_key"`
	Token              types.String `tfsdk:"token"`
	ClusterID          types.String `tfsdk:"cluster_id"`
}

func (r *secondaryTokenResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = r.kind.typeName(req.ProviderTypeName, "secondary_token")
}

func (r *secondaryTokenResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: r.kind.words("Admits a DR secondary on the provider's cluster, which must be a DR primary: mints the activation token " +
			"for `secondary_id` (`sys/replication/dr/primary/secondary-token`). Feed `token` to `vaultrepl_dr_secondary` on the secondary cluster.\n\n" +
			"Whether the resource exists is read from the primary's `known_secondaries`, not from the token: a token that was " +
			"consumed by its secondary still exists, so a plan never mints a new one by itself. If the secondary is revoked outside " +
			"Terraform, the next refresh removes the resource from state and the plan shows a new token being minted. " +
			"Destroying it revokes the secondary (`revoke-secondary`): its stream is closed and its certificate refused.\n\n" +
			"The token is stored in the state. With Terraform 1.11 or later, the ephemeral resource of the same name with " +
			"`vaultrepl_dr_secondary`'s `token_wo` keeps it out of the state; to move to it, forget this resource with a `removed` " +
			"block (`lifecycle { destroy = false }`), since destroying it would revoke the secondary."),
		Attributes: map[string]schema.Attribute{
			"secondary_id": schema.StringAttribute{
				MarkdownDescription: r.kind.words("Id of the secondary to admit, unique among the primary's live secondaries (" + secondaryIDRule + "). " +
					"Changing it revokes the old secondary and mints a token for the new id. The import id."),
				Required: true,
				Validators: []validator.String{
					stringvalidator.RegexMatches(secondaryIDPattern, "must be "+secondaryIDRule),
				},
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"ttl": schema.StringAttribute{
				MarkdownDescription: r.kind.words("How long the activation token can be used, as a duration (`30m`, `24h`, `7d`) or a number of seconds. " +
					"Defaults to `" + defaultTokenTTL + "`. It only matters when the token is minted: changing it later is stored without minting a new token."),
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(defaultTokenTTL),
				Validators: []validator.String{durationValidator{}},
			},
			"secondary_public_key": schema.StringAttribute{
				MarkdownDescription: r.kind.words("Public key from the secondary's `sys/replication/dr/secondary/generate-public-key`. When set, the token is the " +
					"activation bundle encrypted to that key instead of a response-wrapping token, so enabling the secondary needs no call " +
					"to the primary's API. Changing it revokes the secondary and mints a new token."),
				Optional:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"token": schema.StringAttribute{
				MarkdownDescription: r.kind.words("The activation token (sensitive; single use). Null after an import, since a minted token cannot be read back."),
				Computed:            true,
				Sensitive:           true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"cluster_id": schema.StringAttribute{
				MarkdownDescription: r.kind.words("Id of the DR set the secondary is admitted to."),
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

func (r *secondaryTokenResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *secondaryTokenResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.State.Raw.IsNull() {
		return
	}
	var state secondaryTokenModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	revokes := req.Plan.Raw.IsNull()
	if !revokes {
		var plan secondaryTokenModel
		resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
		revokes = !plan.SecondaryID.Equal(state.SecondaryID) || !plan.SecondaryPublicKey.Equal(state.SecondaryPublicKey)
	}
	if revokes {
		resp.Diagnostics.AddWarning(r.kind.summary("Secondary Will Be Revoked"),
			r.kind.sayf("This plan destroys vaultrepl_dr_secondary_token for secondary %q, which revokes it on the primary: "+
				"if that secondary is running, its replication stream is closed and it cannot reconnect until it is admitted again.",
				state.SecondaryID.ValueString()))
	}
}

func (r *secondaryTokenResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan secondaryTokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx)
	c := clientFor(ctx, r.data, &resp.Diagnostics)
	if c == nil {
		return
	}
	id := plan.SecondaryID.ValueString()
	st, err := r.kind.status(ctx, c)
	if err != nil {
		r.kind.readStatusError(&resp.Diagnostics, c.Address(), err)
		return
	}
	if st.Mode != client.ModePrimary {
		resp.Diagnostics.AddError(r.kind.summary("Cluster Is Not A DR Primary"),
			r.kind.sayf("The cluster at %s is not a DR primary (mode %q), so it cannot admit secondary %q.\n\n"+
				"Enable it with vaultrepl_dr_primary and make this resource depend on it (for example through cluster_id), "+
				"or point the provider at the primary.", c.Address(), st.Mode, id))
		return
	}
	if st.HasKnownSecondary(id) {
		resp.Diagnostics.AddError(r.kind.summary("Secondary Already Admitted"),
			r.kind.sayf("The primary at %s already knows a secondary %q (DR set %s). Its activation token cannot be read back.\n\n"+
				"Import it (terraform import <address of this resource> %s) to manage it without a token, "+
				"revoke it first to mint a new token, or choose another secondary_id.", c.Address(), id, st.ClusterID, id))
		return
	}

	tflog.Info(ctx, r.kind.words("minting DR secondary activation token"), map[string]any{"secondary_id": id, "ttl": plan.TTL.ValueString(),
		"encrypted": !plan.SecondaryPublicKey.IsNull()})
	token, wrapped, err := c.Replication(r.kind.client).SecondaryToken(ctx, id, plan.TTL.ValueString(), plan.SecondaryPublicKey.ValueString())
	if err != nil {
		apiError(&resp.Diagnostics, r.kind.summary("Cannot Mint Activation Token"), r.kind.sayf("mint an activation token for secondary %q", id), c.Address(),
			r.kind.words("The provider's token needs sudo on sys/replication/dr/primary/secondary-token."), err)
		return
	}
	ctx = withMasking(ctx, token)
	tflog.Debug(ctx, "activation token minted", map[string]any{"secondary_id": id, "wrapped": wrapped})
	plan.Token = types.StringValue(token)
	plan.ClusterID = types.StringValue(st.ClusterID)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *secondaryTokenResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state secondaryTokenModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx, state.Token.ValueString())
	c, st := r.kind.clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	id := state.SecondaryID.ValueString()
	if st.Mode != client.ModePrimary || !st.HasKnownSecondary(id) {
		resp.Diagnostics.AddWarning(r.kind.summary("DR Secondary No Longer Admitted"),
			r.kind.sayf("The cluster at %s no longer lists secondary %q in known_secondaries (mode %q): it was revoked, or DR replication "+
				"was disabled or re-created, outside Terraform. The resource was removed from state, so the plan shows a new activation token "+
				"being minted; a secondary that used the old one must be enabled again with the new token.", c.Address(), id, st.Mode))
		resp.State.RemoveResource(ctx)
		return
	}
	state.ClusterID = types.StringValue(st.ClusterID)
	if state.TTL.IsNull() {
		state.TTL = types.StringValue(defaultTokenTTL)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *secondaryTokenResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Only ttl can change in place: it is stored, no token is minted.
	var plan, state secondaryTokenModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.Token, plan.ClusterID = state.Token, state.ClusterID
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *secondaryTokenResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state secondaryTokenModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx, state.Token.ValueString())
	c := clientFor(ctx, r.data, &resp.Diagnostics)
	if c == nil {
		return
	}
	id := state.SecondaryID.ValueString()
	st, err := r.kind.status(ctx, c)
	if err != nil {
		r.kind.readStatusError(&resp.Diagnostics, c.Address(), err)
		return
	}
	if st.Mode != client.ModePrimary || !st.HasKnownSecondary(id) {
		tflog.Info(ctx, "secondary already gone from known_secondaries", map[string]any{"secondary_id": id, "mode": st.Mode})
		return
	}
	warnings, err := c.Replication(r.kind.client).RevokeSecondary(ctx, id)
	if err != nil {
		apiError(&resp.Diagnostics, r.kind.summary("Cannot Revoke DR Secondary"), r.kind.sayf("revoke secondary %q", id), c.Address(), "", err)
		return
	}
	logWarnings(ctx, warnings)
}

func (r *secondaryTokenResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ctx = withMasking(ctx)
	c, st := r.kind.clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	if st.Mode != client.ModePrimary || !st.HasKnownSecondary(req.ID) {
		resp.Diagnostics.AddError(r.kind.summary("Cannot Import DR Secondary Token"),
			r.kind.sayf("The cluster at %s has no secondary %q in known_secondaries (mode %q, known secondaries %v). "+
				"Import with the id of an admitted secondary, on the provider pointed at its primary.", c.Address(), req.ID, st.Mode, st.KnownSecondaries))
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &secondaryTokenModel{
		SecondaryID:        types.StringValue(req.ID),
		TTL:                types.StringValue(defaultTokenTTL),
		SecondaryPublicKey: types.StringNull(),
		Token:              types.StringNull(),
		ClusterID:          types.StringValue(st.ClusterID),
	})...)
}
