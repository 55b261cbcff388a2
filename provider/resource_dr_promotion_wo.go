package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/resourcevalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// This file holds what vaultrepl_dr_promotion adds for Terraform 1.11's
// write-only arguments: the credentials of a promotion that never reach
// the plan or the state.

var _ resource.ResourceWithModifyPlan = (*drPromotionResource)(nil)

// promotionCredentialAttrs are the four ways to authenticate a promotion,
// at most one of which may be set.
var promotionCredentialAttrs = []string{"dr_operation_token", "key_shares", "dr_operation_token_wo", "key_shares_wo"}

// promotionWriteOnlyAttributes are merged into the resource's schema.
func promotionWriteOnlyAttributes() map[string]schema.Attribute {
	return map[string]schema.Attribute{
		"dr_operation_token_wo": schema.StringAttribute{
			MarkdownDescription: "Write-only `dr_operation_token` (Terraform 1.11 or later), for example the `token` of the ephemeral " +
				"`vaultrepl_dr_operation_token`: never stored in the plan or the state, read only when the cluster is promoted.",
			Optional:  true,
			Sensitive: true,
			WriteOnly: true,
		},
		"key_shares_wo": schema.ListAttribute{
			MarkdownDescription: "Write-only `key_shares` (Terraform 1.11 or later): the primary's unseal key shares, never stored in the plan " +
				"or the state (pass them in an `ephemeral = true` variable), read only when the cluster is promoted.",
			ElementType: types.StringType,
			Optional:    true,
			Sensitive:   true,
			WriteOnly:   true,
			Validators: []validator.List{
				listvalidator.SizeAtLeast(1),
				listvalidator.ValueStringsAre(stringvalidator.LengthAtLeast(1)),
			},
		},
		"credentials_wo_version": schema.Int64Attribute{
			MarkdownDescription: "Version of the write-only credentials (`dr_operation_token_wo`, `key_shares_wo`), stored in the state. " +
				"Changing it from one number to another **replaces** the resource, which is a deliberate new promotion (like " +
				"`terraform apply -replace`): the cluster is promoted again with the credentials of that apply if it is a DR secondary by then, " +
				"and the promotion is only recorded if it already is the primary. Setting it where it was null, or removing it, is only stored.",
			Optional: true,
			PlanModifiers: []planmodifier.Int64{
				int64planmodifier.RequiresReplaceIf(versionRequiresReplace,
					"Changing credentials_wo_version replaces the promotion: the cluster is promoted again if it is a DR secondary.",
					"Changing `credentials_wo_version` replaces the promotion: the cluster is promoted again if it is a DR secondary."),
			},
		},
	}
}

// promotionConfigValidators: at most one credential; that one is present
// is checked when the promotion is created (ModifyPlan, Create), because
// an ephemeral operation token is null once the cluster was promoted.
func promotionConfigValidators() []resource.ConfigValidator {
	exprs := make([]path.Expression, 0, len(promotionCredentialAttrs))
	for _, a := range promotionCredentialAttrs {
		exprs = append(exprs, path.MatchRoot(a))
	}
	return []resource.ConfigValidator{resourcevalidator.Conflicting(exprs...)}
}

// promotionWO is the part of the configuration only the config holds.
type promotionWO struct {
	DROperationTokenWO types.String `tfsdk:"dr_operation_token_wo"`
	KeySharesWO        types.List   `tfsdk:"key_shares_wo"`
}

// promotionCredentials returns the operation token or the key shares of
// this apply: the stored arguments, else the write-only ones. known is
// false when a credential is still unknown (plan time).
func promotionCredentials(ctx context.Context, cfg tfsdk.Config, plan drPromotionModel) (opToken string, shares []string, known bool, diags diag.Diagnostics) {
	var wo promotionWO
	diags.Append(cfg.GetAttribute(ctx, path.Root("dr_operation_token_wo"), &wo.DROperationTokenWO)...)
	diags.Append(cfg.GetAttribute(ctx, path.Root("key_shares_wo"), &wo.KeySharesWO)...)
	if diags.HasError() {
		return "", nil, false, diags
	}
	known = !plan.DROperationToken.IsUnknown() && !plan.KeyShares.IsUnknown() && !wo.DROperationTokenWO.IsUnknown() && !wo.KeySharesWO.IsUnknown()
	opToken = plan.DROperationToken.ValueString()
	if opToken == "" {
		opToken = wo.DROperationTokenWO.ValueString()
	}
	for _, l := range []types.List{plan.KeyShares, wo.KeySharesWO} {
		if len(shares) == 0 && !l.IsNull() && !l.IsUnknown() {
			diags.Append(l.ElementsAs(ctx, &shares, false)...)
		}
	}
	return opToken, shares, known, diags
}

// missingCredentials is the diagnostic for a promotion without any.
func missingCredentials(diags *diag.Diagnostics) {
	diags.AddError("Missing Attribute Configuration",
		fmt.Sprintf("Promoting the cluster needs exactly one of these attributes: [%s]. With an ephemeral vaultrepl_dr_operation_token, "+
			"check that the cluster is a DR secondary when the run opens it (its token is null otherwise).", strings.Join(promotionCredentialAttrs, ",")))
}

// checkCredentialsAtPlan refuses a promotion without credentials of a
// cluster that is a DR secondary. One that already is the primary needs
// none (a replaced promotion is then only recorded), which only its
// status can say.
func (r *drPromotionResource) checkCredentialsAtPlan(ctx context.Context, cfg tfsdk.Config, plan drPromotionModel, diags *diag.Diagnostics) {
	opToken, shares, known, d := promotionCredentials(ctx, cfg, plan)
	diags.Append(d...)
	if !known || opToken != "" || len(shares) > 0 || r.data == nil {
		return
	}
	var probe diag.Diagnostics
	if _, st := clientAndStatus(withMasking(ctx), r.data, &probe); st != nil && st.Mode == client.ModePrimary {
		return
	}
	// Unreachable clusters are reported by Create; the missing
	// credentials are the finding here.
	missingCredentials(diags)
}

// ModifyPlan refuses, at plan time, a promotion without credentials, and
// says when a changed credentials_wo_version promotes again.
func (r *drPromotionResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	var plan drPromotionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if req.State.Raw.IsNull() {
		r.checkCredentialsAtPlan(ctx, req.Config, plan, &resp.Diagnostics)
		return
	}
	var state drPromotionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if !state.CredentialsWOVersion.IsNull() && !plan.CredentialsWOVersion.IsNull() && !plan.CredentialsWOVersion.Equal(state.CredentialsWOVersion) {
		resp.Diagnostics.AddAttributeWarning(path.Root("credentials_wo_version"), "The Promotion Is Replaced",
			"credentials_wo_version changed, so vaultrepl_dr_promotion is replaced: if the cluster is a DR secondary at apply time it is "+
				"promoted again with the write-only credentials of this apply. Make sure no other cluster of the DR set is a writable primary.")
	}
}
