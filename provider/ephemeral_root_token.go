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
	_ ephemeral.EphemeralResource              = (*rootTokenEphemeral)(nil)
	_ ephemeral.EphemeralResourceWithConfigure = (*rootTokenEphemeral)(nil)
	_ ephemeral.EphemeralResourceWithClose     = (*rootTokenEphemeral)(nil)
)

// rootTokenPrivateKey is the private-data key under which Open hands the
// generated root token to Close, which revokes it.
const rootTokenPrivateKey = "root_token"

// NewRootTokenEphemeralResource is the constructor of the ephemeral
// resource vaultrepl_root_token.
func NewRootTokenEphemeralResource() ephemeral.EphemeralResource {
	return &rootTokenEphemeral{}
}

type rootTokenEphemeral struct{ data *providerData }

type rootTokenEphemeralModel struct {
	KeyShares types.List   `tfsdk:"key_shares"`
	Token     types.String `tfsdk:"token"`
}

func (r *rootTokenEphemeral) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_root_token"
}

func (r *rootTokenEphemeral) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Generates a root token on the provider's cluster from unseal key shares (`sys/generate-root`: attempt with a " +
			"server-generated one-time password → one update per share → decode, as `vault operator generate-root` does), for the length " +
			"of one Terraform run, and revokes it when the run ends (Close: `auth/token/revoke-self`). Neither the shares nor the token " +
			"are written to a plan or a state. Needs Terraform 1.10 or later.\n\n" +
			"Its use: enabling a performance secondary wipes that cluster's tokens, and its seal follows its primary's from then on, so a " +
			"token of its own comes from its PRIMARY's key shares. Feed `token` to the `token` of a second provider block for that cluster " +
			"(providers accept ephemeral values). Generation needs no token, so the provider block of this resource may carry none.\n\n" +
			"Terraform opens an ephemeral resource in every run that needs it, plans included, so every run generates (and revokes) its " +
			"own root token. A generation attempt someone else started is never touched: Open fails and asks you to finish or cancel it.",
		Attributes: map[string]schema.Attribute{
			"key_shares": keySharesAttribute("Unseal key shares of the cluster's seal (for a performance secondary: its primary's; hex or base64; sensitive), " +
				"at least its threshold. Shares beyond the threshold are not sent. Use an ephemeral or sensitive variable."),
			"token": schema.StringAttribute{
				MarkdownDescription: "The root token (sensitive), valid until the run ends.",
				Computed:            true,
				Sensitive:           true,
			},
		},
	}
}

func (r *rootTokenEphemeral) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *rootTokenEphemeral) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m rootTokenEphemeralModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	shares := keySharesOf(ctx, m.KeyShares, &resp.Diagnostics)
	if shares == nil {
		return
	}
	ctx = withMasking(ctx, shares...)
	c := clientFor(ctx, r.data, &resp.Diagnostics)
	if c == nil {
		return
	}
	tflog.Info(ctx, "generating a root token for this run from key shares", map[string]any{"shares": len(shares)})
	token, err := c.GenerateRootToken(ctx, shares)
	if err != nil {
		rootGenerationError(&resp.Diagnostics, c.Address(), err)
		return
	}
	ctx = withMasking(ctx, token)
	recordGeneratedToken(ctx, resp.Private, rootTokenPrivateKey, token, &resp.Diagnostics)
	m.Token = types.StringValue(token)
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
}

// Close revokes the root token generated in this run with its own
// authority. A 403 means it is gone already (a mode change that wiped the
// cluster's tokens), which is the end Close wants anyway.
func (r *rootTokenEphemeral) Close(ctx context.Context, req ephemeral.CloseRequest, resp *ephemeral.CloseResponse) {
	token := generatedToken(ctx, req.Private, rootTokenPrivateKey, &resp.Diagnostics)
	if token == "" {
		return
	}
	ctx = withMasking(ctx, token)
	c := clientFor(ctx, r.data, &resp.Diagnostics)
	if c == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := c.RevokeSelf(rctx, token)
	switch {
	case err == nil:
		tflog.Info(ctx, "revoked the root token of this run")
	case client.IsPermissionDenied(err):
		tflog.Info(ctx, "the root token of this run was already revoked", map[string]any{"answer": errorText(err)})
	default:
		resp.Diagnostics.AddWarning("Root Token Not Revoked",
			fmt.Sprintf("Revoking the root token generated in this run on the cluster at %s failed, so it may still be valid there. "+
				"Revoke it (`vault token revoke`, or auth/token/revoke-accessor with its accessor from the audit log).\n\n"+
				"Original Error: %s", c.Address(), errorText(err)))
	}
}

// rootGenerationError reports a failed root token generation with what to
// check, which differs from a DR operation token's only in the seal that
// the shares must open.
func rootGenerationError(diags *diag.Diagnostics, addr string, err error) {
	advice := "Check that key_shares are unseal key shares of the cluster's seal (a performance secondary's seal follows its PRIMARY's), " +
		"at least its threshold, each given once. The generation attempt was cancelled."
	if errors.Is(err, client.ErrGenerationInProgress) {
		advice = "Someone else's root token generation is running on this cluster; its one-time password is unknown to the provider. " +
			"Finish it, or cancel it (`vault operator generate-root -cancel`, or DELETE sys/generate-root/attempt), and apply again."
	}
	diags.AddError("Cannot Generate Root Token",
		fmt.Sprintf("The provider could not generate a root token from key_shares on the cluster at %s.\n\n%s\n\nOriginal Error: %s",
			addr, advice, errorText(err)))
}
