package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timeouts/resource/timeouts"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
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
	_ resource.Resource                     = (*drPromotionResource)(nil)
	_ resource.ResourceWithConfigure        = (*drPromotionResource)(nil)
	_ resource.ResourceWithConfigValidators = (*drPromotionResource)(nil)
)

const (
	defaultPromotionCreateTimeout = 10 * time.Minute
	// promoteCatchUpGrace is how long a promotion refused because the
	// secondary is behind (503) is retried before the provider gives up and
	// suggests force.
	promoteCatchUpGrace = time.Minute
)

// NewDRPromotionResource is the constructor of vaultrepl_dr_promotion.
func NewDRPromotionResource() resource.Resource { return &drPromotionResource{} }

type drPromotionResource struct{ data *providerData }

type drPromotionModel struct {
	DROperationToken   types.String   `tfsdk:"dr_operation_token"`
	KeyShares          types.List     `tfsdk:"key_shares"`
	Force              types.Bool     `tfsdk:"force"`
	PrimaryClusterAddr types.String   `tfsdk:"primary_cluster_addr"`
	ClusterID          types.String   `tfsdk:"cluster_id"`
	CurrentMode        types.String   `tfsdk:"current_mode"`
	Timeouts           timeouts.Value `tfsdk:"timeouts"`
	// Write-only credentials (resource_dr_promotion_wo.go).
	DROperationTokenWO   types.String `tfsdk:"dr_operation_token_wo"`
	KeySharesWO          types.List   `tfsdk:"key_shares_wo"`
	CredentialsWOVersion types.Int64  `tfsdk:"credentials_wo_version"`
	promotionEvidence                 // recovery time and point (dr_promotion_evidence.go)
}

func (r *drPromotionResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_dr_promotion"
}

func (r *drPromotionResource) Schema(ctx context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Promotes the provider's cluster, a DR secondary, to the primary of its DR set " +
			"(`sys/replication/dr/secondary/promote`) and waits until it reports mode `primary`. It authenticates with " +
			"`dr_operation_token`, or with the primary's unseal key shares in `key_shares`, from which the provider generates a " +
			"DR operation token on the cluster itself (attempt → update → decode; promotion revokes it). With Terraform 1.11 or later, " +
			"`dr_operation_token_wo` and `key_shares_wo` do the same without storing the secret in the plan or the state.\n\n" +
			"A promotion is an event, not a state that Terraform keeps converging to: creating the resource promotes once. " +
			"If the cluster is demoted later, the refresh keeps the resource and shows it in `current_mode`, but never promotes " +
			"again on its own — re-promoting a cluster because a refresh saw it demoted could create two writable primaries. " +
			"To promote again, replace it deliberately (`terraform apply -replace=...`). Destroying it changes nothing on the cluster. " +
			"Changing any argument after the promotion is only stored.",
		Attributes: map[string]schema.Attribute{
			"dr_operation_token": schema.StringAttribute{
				MarkdownDescription: "DR operation token for this cluster (sensitive): generated on it with the primary's key shares, or a DR " +
					"operation batch token from the primary. Exactly one of `dr_operation_token`, `key_shares`, `dr_operation_token_wo` and `key_shares_wo` must be set.",
				Optional:  true,
				Sensitive: true,
			},
			"key_shares": schema.ListAttribute{
				MarkdownDescription: "Unseal key shares of the **primary** (hex or base64; sensitive), at least its threshold. The provider " +
					"generates a DR operation token on the cluster with them and promotes with it; on failure it cancels the generation and " +
					"revokes the token. Exactly one of `dr_operation_token`, `key_shares`, `dr_operation_token_wo` and `key_shares_wo` must be set.",
				ElementType: types.StringType,
				Optional:    true,
				Sensitive:   true,
				Validators: []validator.List{
					listvalidator.SizeAtLeast(1),
					listvalidator.ValueStringsAre(stringvalidator.LengthAtLeast(1)),
				},
			},
			"force": schema.BoolAttribute{
				MarkdownDescription: fmt.Sprintf("Promote even if the secondary reports being behind its primary, discarding the WAL entries it has "+
					"not received (the recovery point of asynchronous replication). Without it, a promotion refused as behind is retried for up to %s "+
					"(within the create timeout) and then fails with the server's message. Defaults to `false`.", promoteCatchUpGrace),
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
			},
			"primary_cluster_addr": schema.StringAttribute{
				MarkdownDescription: "Cluster address (host:port or https://host:port) that this cluster advertises to secondaries once it is the " +
					"primary. Defaults to its own cluster address.",
				Optional:   true,
				Validators: []validator.String{clusterAddrValidator{}},
			},
			"cluster_id": schema.StringAttribute{
				MarkdownDescription: "Id of the DR set the cluster was promoted in (unchanged by a promotion).",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"current_mode": schema.StringAttribute{
				MarkdownDescription: "The cluster's DR mode at the last refresh (`primary` right after the promotion). It shows drift, such as a later " +
					"demotion, without triggering another promotion.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"timeouts": createTimeoutAttribute(ctx, "the promotion (including generating the DR operation token and the cluster reporting mode `primary`)",
				defaultPromotionCreateTimeout.String()),
		},
	}
	for name, attr := range promotionWriteOnlyAttributes() {
		resp.Schema.Attributes[name] = attr
	}
	addPromotionEvidence(resp.Schema.Attributes)
}

func (r *drPromotionResource) ConfigValidators(context.Context) []resource.ConfigValidator {
	return promotionConfigValidators()
}

func (r *drPromotionResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *drPromotionResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan drPromotionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	opToken, shares, _, d := promotionCredentials(ctx, req.Config, plan)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx, append([]string{opToken}, shares...)...)
	timeout, d := plan.Timeouts.Create(ctx, defaultPromotionCreateTimeout)
	resp.Diagnostics.Append(d...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	c, st := clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	switch {
	case st.Mode == client.ModePrimary:
		resp.Diagnostics.AddWarning("Cluster Is Already A DR Primary",
			fmt.Sprintf("The cluster at %s is already the DR primary of DR set %s, so there is nothing to promote. The promotion is recorded as done.",
				c.Address(), st.ClusterID))
		plan.ClusterID, plan.CurrentMode = types.StringValue(st.ClusterID), types.StringValue(st.Mode)
		plan.promotionEvidence = nullEvidence()
		resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
		return
	case !st.IsSecondary():
		resp.Diagnostics.AddError("Cluster Is Not A DR Secondary",
			fmt.Sprintf("The cluster at %s is not a DR secondary (mode %q), so it cannot be promoted. Only a secondary becomes the primary of its "+
				"DR set by promotion; check the provider's address, or use vaultrepl_dr_primary to start a new DR set.", c.Address(), st.Mode))
		return
	case opToken == "" && len(shares) == 0:
		missingCredentials(&resp.Diagnostics)
		return
	}

	generated := false
	var err error
	if len(shares) > 0 {
		tflog.Info(ctx, "generating a DR operation token on the secondary from the primary's key shares", map[string]any{"shares": len(shares)})
		opToken, err = c.GenerateDROperationToken(ctx, shares)
		if err != nil {
			advice := "Check that key_shares are unseal key shares of the PRIMARY (the secondary's seal follows its primary), at least its threshold, " +
				"each given once. The generation attempt was cancelled."
			if errors.Is(err, client.ErrGenerationInProgress) {
				advice = "Someone else's DR operation token generation is running on this cluster; its one-time password is unknown to the provider. " +
					"Finish it, or cancel it (`vault operator generate-root -dr-token -cancel`, or DELETE " +
					"sys/replication/dr/secondary/generate-operation-token/attempt), and apply again."
			}
			apiError(&resp.Diagnostics, "Cannot Generate DR Operation Token", "generate a DR operation token from key_shares", c.Address(), advice, err)
			return
		}
		ctx = withMasking(ctx, opToken)
		generated = true
	}

	tflog.Info(ctx, "promoting DR secondary", map[string]any{"cluster_id": st.ClusterID, "force": plan.Force.ValueBool()})
	err = promoteRetrying(ctx, func(ctx context.Context) (client.Warnings, error) {
		return c.Promote(ctx, opToken, plan.PrimaryClusterAddr.ValueString(), plan.Force.ValueBool())
	})
	if err != nil {
		if generated {
			// Promotion revokes operation tokens; a failed one leaves ours valid.
			dctx, done := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			if derr := c.DeleteOperationToken(dctx, opToken); derr != nil {
				tflog.Warn(ctx, "could not revoke the generated DR operation token", map[string]any{"error": derr.Error()})
			}
			done()
		}
		switch {
		case client.IsPromotionBehind(err):
			var re *client.ResponseError
			_ = errors.As(err, &re)
			resp.Diagnostics.AddError("DR Secondary Is Behind Its Primary",
				fmt.Sprintf("The cluster at %s refused the promotion because it has not caught up with its primary, and it did not catch up within %s:\n\n  %s\n\n"+
					"Wait for it to catch up and apply again, or set force = true to promote now and lose the WAL entries it has not received "+
					"(the recovery point of asynchronous replication).", c.Address(), min(promoteCatchUpGrace, timeout), re.Message()))
		case client.IsPermissionDenied(err):
			apiError(&resp.Diagnostics, "DR Operation Token Rejected", "promote the DR secondary", c.Address(),
				"The dr_operation_token is not valid on this cluster: it must be generated on this secondary (generate-operation-token, with the "+
					"primary's key shares — or set key_shares and let the provider do it), or be a DR operation batch token from the primary whose "+
					"policy grants update on sys/replication/dr/secondary/promote. Nothing was changed on the cluster.", err)
		default:
			apiError(&resp.Diagnostics, "Cannot Promote DR Secondary", "promote the DR secondary", c.Address(), "", err)
		}
		return
	}

	last, err := poll(ctx, "waiting for the promotion to take effect", func(ctx context.Context) (bool, string, error) {
		st, err := c.DRStatus(ctx)
		if err != nil {
			return false, "status: " + errorText(err), nil
		}
		plan.ClusterID, plan.CurrentMode = types.StringValue(st.ClusterID), types.StringValue(st.Mode)
		return st.Mode == client.ModePrimary, fmt.Sprintf("mode %s state %s", st.Mode, st.State), nil
	})
	if err != nil {
		resp.Diagnostics.AddError("Timed Out Waiting For Promotion",
			fmt.Sprintf("The cluster at %s accepted the promotion but did not report mode primary within %s. Last seen: %s. "+
				"The resource is saved as tainted; check sys/replication/dr/status and the server's logs, and do not promote again blindly.\n\nOriginal Error: %s",
				c.Address(), timeout, last, err))
	}
	plan.promotionEvidence = nullEvidence()
	if err == nil {
		refreshEvidence(ctx, c, &plan.promotionEvidence, true, &resp.Diagnostics)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

// promoteRetrying calls promote once, and again while the cluster
// answers the documented 503 "behind" (never for any other failure), for
// at most promoteCatchUpGrace and never past ctx's deadline (the create
// timeout), so that a refusal ends with the server's answer, not a context
// error. Both families' promotions use it.
func promoteRetrying(ctx context.Context, promote func(context.Context) (client.Warnings, error)) error {
	deadline := time.Now().Add(promoteCatchUpGrace)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	wait := pollInitial
	for {
		warnings, err := promote(ctx)
		if err == nil {
			logWarnings(ctx, warnings)
			return nil
		}
		if !client.IsPromotionBehind(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		tflog.Info(ctx, "promotion refused: the secondary is behind its primary; waiting for it to catch up", map[string]any{
			"server_message": errorText(err), "retry_in": wait.String(),
		})
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(wait*2, pollMax)
	}
}

func (r *drPromotionResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state drPromotionModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx, state.DROperationToken.ValueString())
	c, st := clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	// Never removed and never re-planned: see the resource description.
	if st.Mode != client.ModePrimary && state.CurrentMode.ValueString() == client.ModePrimary {
		tflog.Info(ctx, "the promoted cluster is no longer a primary; recorded in current_mode only", map[string]any{"mode": st.Mode})
	}
	state.CurrentMode = types.StringValue(st.Mode)
	refreshEvidence(ctx, c, &state.promotionEvidence, false, &resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *drPromotionResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// The promotion already happened: changed arguments are stored only.
	var plan, state drPromotionModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plan.ClusterID, plan.CurrentMode = state.ClusterID, state.CurrentMode
	plan.promotionEvidence = state.promotionEvidence
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *drPromotionResource) Delete(ctx context.Context, _ resource.DeleteRequest, _ *resource.DeleteResponse) {
	tflog.Info(ctx, "destroying vaultrepl_dr_promotion changes nothing on the cluster")
}
