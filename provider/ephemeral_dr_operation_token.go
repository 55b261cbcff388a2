package provider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

var (
	_ ephemeral.EphemeralResource              = (*drOperationTokenEphemeral)(nil)
	_ ephemeral.EphemeralResourceWithConfigure = (*drOperationTokenEphemeral)(nil)
	_ ephemeral.EphemeralResourceWithClose     = (*drOperationTokenEphemeral)(nil)
)

// opTokenPrivateKey is the private-data key under which Open hands the
// generated token to Close, which revokes it.
const opTokenPrivateKey = "op_token"

// NewDROperationTokenEphemeralResource is the constructor of the ephemeral
// resource vaultrepl_dr_operation_token.
func NewDROperationTokenEphemeralResource() ephemeral.EphemeralResource {
	return &drOperationTokenEphemeral{}
}

type drOperationTokenEphemeral struct{ data *providerData }

type drOperationTokenEphemeralModel struct {
	KeyShares types.List   `tfsdk:"key_shares"`
	Token     types.String `tfsdk:"token"`
	Mode      types.String `tfsdk:"mode"`
	ClusterID types.String `tfsdk:"cluster_id"`
}

func (r *drOperationTokenEphemeral) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_dr_operation_token"
}

func (r *drOperationTokenEphemeral) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Generates a DR operation token on the provider's cluster, a DR secondary, from the DR set's unseal key shares " +
			"(`generate-operation-token`: attempt with a server-generated one-time password → one update per share → decode), for the length " +
			"of one Terraform run. Neither the shares nor the token are written to a plan or a state: feed the token to " +
			"`dr_operation_token_wo` of `vaultrepl_dr_secondary` (re-pointing with `update-primary`) or of `vaultrepl_dr_promotion`. " +
			"Needs Terraform 1.10 or later (1.11 for the write-only arguments).\n\n" +
			"Terraform opens an ephemeral resource in every run that needs it, plans included, so every run generates its own token. " +
			"When the run ends (Close) the token is revoked (`operation-token/delete`); a promotion or a re-point has usually revoked it " +
			"already, which is fine. On a cluster that is not a DR secondary (for example the one this run or an earlier one promoted) " +
			"nothing is generated and `token` is null: only a secondary has a use for one. A generation attempt someone else started " +
			"is never touched: Open fails and asks you to finish or cancel it.",
		Attributes: map[string]schema.Attribute{
			"key_shares": keySharesAttribute("Unseal key shares of the DR set (the original primary's; hex or base64; sensitive), at least its threshold. " +
				"Shares beyond the threshold are not sent. Use an ephemeral or sensitive variable."),
			"token": schema.StringAttribute{
				MarkdownDescription: "The DR operation token (sensitive), or null when the cluster is not a DR secondary.",
				Computed:            true,
				Sensitive:           true,
			},
			"mode": schema.StringAttribute{
				MarkdownDescription: "The cluster's DR mode when the run opened this resource (`secondary` when a token was generated).",
				Computed:            true,
			},
			"cluster_id": schema.StringAttribute{
				MarkdownDescription: "Id of the cluster's DR set.",
				Computed:            true,
			},
		},
	}
}

func (r *drOperationTokenEphemeral) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *drOperationTokenEphemeral) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m drOperationTokenEphemeralModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	shares := keySharesOf(ctx, m.KeyShares, &resp.Diagnostics)
	if shares == nil {
		return
	}
	ctx = withMasking(ctx, shares...)
	c, st := clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	m.Mode, m.ClusterID, m.Token = types.StringValue(st.Mode), types.StringValue(st.ClusterID), types.StringNull()
	if !st.IsSecondary() {
		tflog.Info(ctx, "cluster is not a DR secondary: no DR operation token generated", map[string]any{"mode": st.Mode})
		resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
		return
	}
	tflog.Info(ctx, "generating a DR operation token for this run from the DR set's key shares", map[string]any{"shares": len(shares)})
	token, err := c.GenerateDROperationToken(ctx, shares)
	if err != nil {
		generationError(&resp.Diagnostics, c.Address(), err)
		return
	}
	ctx = withMasking(ctx, token)
	recordGeneratedToken(ctx, resp.Private, opTokenPrivateKey, token, &resp.Diagnostics)
	m.Token = types.StringValue(token)
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
}

// Close revokes the token generated in this run. A token a promotion or a
// re-point already revoked answers 403, which is the expected end.
func (r *drOperationTokenEphemeral) Close(ctx context.Context, req ephemeral.CloseRequest, resp *ephemeral.CloseResponse) {
	token := generatedToken(ctx, req.Private, opTokenPrivateKey, &resp.Diagnostics)
	if token == "" {
		return
	}
	ctx = withMasking(ctx, token)
	c := clientFor(ctx, r.data, &resp.Diagnostics)
	if c == nil {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := c.DeleteOperationToken(dctx, token)
	switch {
	case err == nil:
		tflog.Info(ctx, "revoked the DR operation token of this run")
	case client.IsPermissionDenied(err) || client.StatusCode(err) == 400:
		// Already gone: a promotion or a mode change revokes every op token.
		tflog.Info(ctx, "the DR operation token of this run was already revoked", map[string]any{"answer": errorText(err)})
	default:
		resp.Diagnostics.AddWarning("DR Operation Token Not Revoked",
			fmt.Sprintf("Revoking the DR operation token generated in this run on the cluster at %s failed, so it may still be valid there. "+
				"Revoke it with sys/replication/dr/secondary/operation-token/delete, or promote or re-point the cluster (both revoke it).\n\n"+
				"Original Error: %s", c.Address(), errorText(err)))
	}
}

// generationError reports a failed DR operation token generation, with the
// advice the promotion resource gives too.
func generationError(diags *diag.Diagnostics, addr string, err error) {
	advice := "Check that key_shares are unseal key shares of the DR set's PRIMARY (a secondary's seal follows its primary), at least its threshold, " +
		"each given once. The generation attempt was cancelled."
	if errors.Is(err, client.ErrGenerationInProgress) {
		advice = "Someone else's DR operation token generation is running on this cluster; its one-time password is unknown to the provider. " +
			"Finish it, or cancel it (`vault operator generate-root -dr-token -cancel`, or DELETE " +
			"sys/replication/dr/secondary/generate-operation-token/attempt), and apply again."
	}
	detail := fmt.Sprintf("The provider could not generate a DR operation token from key_shares on the cluster at %s.\n\n%s\n\nOriginal Error: %s",
		addr, advice, errorText(err))
	diags.AddError("Cannot Generate DR Operation Token", detail)
}
