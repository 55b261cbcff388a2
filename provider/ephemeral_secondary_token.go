package provider

import (
	"context"
	"encoding/json"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral"
	"github.com/hashicorp/terraform-plugin-framework/ephemeral/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

var (
	_ ephemeral.EphemeralResource              = (*secondaryTokenEphemeral)(nil)
	_ ephemeral.EphemeralResourceWithConfigure = (*secondaryTokenEphemeral)(nil)
	_ ephemeral.EphemeralResourceWithClose     = (*secondaryTokenEphemeral)(nil)
)

// mintPrivateKey is the private-data key under which Open tells Close what
// it minted. Ephemeral private data lives in Terraform's memory for the run
// only; it is never written to a plan or a state.
const mintPrivateKey = "minted"

// NewDRSecondaryTokenEphemeralResource is the constructor of the ephemeral
// resource vaultrepl_dr_secondary_token.
func NewDRSecondaryTokenEphemeralResource() ephemeral.EphemeralResource {
	return &secondaryTokenEphemeral{kind: drKind}
}

// NewPerformanceSecondaryTokenEphemeralResource is the constructor of the
// ephemeral resource vaultrepl_performance_secondary_token.
func NewPerformanceSecondaryTokenEphemeralResource() ephemeral.EphemeralResource {
	return &secondaryTokenEphemeral{kind: performanceKind}
}

// secondaryTokenEphemeral is the ephemeral vaultrepl_dr_secondary_token and
// vaultrepl_performance_secondary_token.
type secondaryTokenEphemeral struct {
	data *providerData
	kind *replKind
}

type secondaryTokenEphemeralModel struct {
	SecondaryID        types.String `tfsdk:"secondary_id"`
	TTL                types.String `tfsdk:"ttl"`
	SecondaryPublicKey types.String `tfsdk:"secondary_public_key"`
	Token              types.String `tfsdk:"token"`
	ClusterID          types.String `tfsdk:"cluster_id"`
	AlreadyAdmitted    types.Bool   `tfsdk:"already_admitted"`
}

// mintRecord is what Close needs to decide whether the token was used.
type mintRecord struct {
	SecondaryID string `json:"secondary_id"`
	Token       string `json:"token"`
	Wrapped     bool   `json:"wrapped"`
}

func (r *secondaryTokenEphemeral) Metadata(_ context.Context, req ephemeral.MetadataRequest, resp *ephemeral.MetadataResponse) {
	resp.TypeName = r.kind.typeName(req.ProviderTypeName, "secondary_token")
}

func (r *secondaryTokenEphemeral) Schema(_ context.Context, _ ephemeral.SchemaRequest, resp *ephemeral.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: r.kind.words("Mints a DR secondary activation token on the provider's cluster, a DR primary " +
			"(`sys/replication/dr/primary/secondary-token`), for the length of one Terraform run. The token is never written to a " +
			"plan or a state: feed it to `token_wo` of `vaultrepl_dr_secondary`. Needs Terraform 1.10 or later (1.11 for `token_wo`).\n\n" +
			"Terraform opens an ephemeral resource in every run that needs it, plans included. When `secondary_id` is already " +
			"among the primary's `known_secondaries` (the secondary was admitted by an earlier run), nothing is minted: " +
			"`already_admitted` is `true` and `token` is null, which `vaultrepl_dr_secondary` only needs when it enables or " +
			"re-points a cluster. On a cluster that is not a DR primary nothing is minted either and `token` is null: Terraform opens " +
			"ephemeral resources while planning even when they depend on a pending `vaultrepl_dr_primary` or `vaultrepl_dr_promotion`, and " +
			"opens them again during the apply, after the cluster became the primary.\n\n" +
			"When the run ends (Close), a token minted by this run that was **not used** is revoked (`revoke-secondary`), so no " +
			"unused activation token outlives the run — the token a plan mints is always revoked this way. A token counts as used " +
			"when the primary has heard from a secondary with that id, or, for a response-wrapped token, when it was unwrapped " +
			"(`sys/wrapping/lookup` no longer knows it); an admitted secondary is never revoked by Close. To admit the same id " +
			"again, revoke it on the primary first (`vault write sys/replication/dr/primary/revoke-secondary id=...`)."),
		Attributes: map[string]schema.Attribute{
			"secondary_id": schema.StringAttribute{
				MarkdownDescription: r.kind.words("Id of the secondary to admit, unique among the primary's live secondaries (" + secondaryIDRule + ")."),
				Required:            true,
				Validators: []validator.String{
					stringvalidator.RegexMatches(secondaryIDPattern, "must be "+secondaryIDRule),
				},
			},
			"ttl": schema.StringAttribute{
				MarkdownDescription: r.kind.words("How long the activation token can be used, as a duration (`30m`, `24h`, `7d`) or a number of seconds. " +
					"Defaults to `" + defaultTokenTTL + "`."),
				Optional:   true,
				Computed:   true,
				Validators: []validator.String{durationValidator{}},
			},
			"secondary_public_key": schema.StringAttribute{
				MarkdownDescription: r.kind.words("Public key from the secondary's `sys/replication/dr/secondary/generate-public-key`. When set, the token is the " +
					"activation bundle encrypted to that key instead of a response-wrapping token."),
				Optional: true,
			},
			"token": schema.StringAttribute{
				MarkdownDescription: r.kind.words("The activation token (sensitive; single use), or null when `already_admitted` is `true`."),
				Computed:            true,
				Sensitive:           true,
			},
			"cluster_id": schema.StringAttribute{
				MarkdownDescription: r.kind.words("Id of the DR set the secondary is admitted to."),
				Computed:            true,
			},
			"already_admitted": schema.BoolAttribute{
				MarkdownDescription: r.kind.words("`true` when the primary already listed `secondary_id` in `known_secondaries` when the run opened this " +
					"resource, so no token was minted."),
				Computed: true,
			},
		},
	}
}

func (r *secondaryTokenEphemeral) Configure(_ context.Context, req ephemeral.ConfigureRequest, resp *ephemeral.ConfigureResponse) {
	r.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (r *secondaryTokenEphemeral) Open(ctx context.Context, req ephemeral.OpenRequest, resp *ephemeral.OpenResponse) {
	var m secondaryTokenEphemeralModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ctx = withMasking(ctx)
	c, st := r.kind.clientAndStatus(ctx, r.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	id := m.SecondaryID.ValueString()
	if m.TTL.IsNull() {
		m.TTL = types.StringValue(defaultTokenTTL)
	}
	if st.Mode != client.ModePrimary {
		// Terraform opens ephemeral resources while planning even when they
		// depend on a pending change, such as the vaultrepl_dr_primary or
		// vaultrepl_dr_promotion that makes the cluster a primary; the apply
		// opens them again afterwards. A null token lets that plan through;
		// a create that gets no token at apply says why.
		tflog.Info(ctx, r.kind.words("cluster is not a DR primary (yet): no activation token minted"), map[string]any{"secondary_id": id, "mode": st.Mode})
		m.AlreadyAdmitted, m.Token, m.ClusterID = types.BoolValue(false), types.StringNull(), types.StringValue(st.ClusterID)
		resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
		return
	}
	m.ClusterID = types.StringValue(st.ClusterID)
	if st.HasKnownSecondary(id) {
		tflog.Info(ctx, "secondary already admitted: no activation token minted", map[string]any{"secondary_id": id})
		m.AlreadyAdmitted, m.Token = types.BoolValue(true), types.StringNull()
		resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
		return
	}

	tflog.Info(ctx, r.kind.words("minting a DR secondary activation token for this run"), map[string]any{"secondary_id": id, "ttl": m.TTL.ValueString(),
		"encrypted": !m.SecondaryPublicKey.IsNull()})
	token, wrapped, err := c.Replication(r.kind.client).SecondaryToken(ctx, id, m.TTL.ValueString(), m.SecondaryPublicKey.ValueString())
	if err != nil {
		apiError(&resp.Diagnostics, r.kind.summary("Cannot Mint Activation Token"), r.kind.sayf("mint an activation token for secondary %q", id), c.Address(),
			r.kind.words("The provider's token needs sudo on sys/replication/dr/primary/secondary-token."), err)
		return
	}
	ctx = withMasking(ctx, token)
	rec, err := json.Marshal(mintRecord{SecondaryID: id, Token: token, Wrapped: wrapped})
	if err != nil {
		resp.Diagnostics.AddError(r.kind.summary("Cannot Record Minted Token"), "Encoding the private data of the ephemeral resource failed: "+err.Error())
		return
	}
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, mintPrivateKey, rec)...)
	m.AlreadyAdmitted, m.Token = types.BoolValue(false), types.StringValue(token)
	resp.Diagnostics.Append(resp.Result.Set(ctx, &m)...)
}

// Close revokes the secondary this run admitted if its token was not used.
// Failures are warnings: the run's real work is done by then.
func (r *secondaryTokenEphemeral) Close(ctx context.Context, req ephemeral.CloseRequest, resp *ephemeral.CloseResponse) {
	raw, d := req.Private.GetKey(ctx, mintPrivateKey)
	resp.Diagnostics.Append(d...)
	if raw == nil || resp.Diagnostics.HasError() {
		return
	}
	var rec mintRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		resp.Diagnostics.AddWarning(r.kind.summary("Cannot Read Minted Token Record"), "The private data of the ephemeral resource could not be decoded: "+err.Error())
		return
	}
	ctx = withMasking(ctx, rec.Token)
	diags := &resp.Diagnostics
	c := clientFor(ctx, r.data, diags)
	if c == nil {
		return
	}
	used, why := activationUsed(ctx, c, r.kind, rec)
	if used {
		tflog.Info(ctx, "activation token of this run kept", map[string]any{"secondary_id": rec.SecondaryID, "reason": why})
		return
	}
	tflog.Info(ctx, "revoking the unused activation token of this run", map[string]any{"secondary_id": rec.SecondaryID, "reason": why})
	warnings, err := c.Replication(r.kind.client).RevokeSecondary(ctx, rec.SecondaryID)
	if err != nil {
		diags.AddWarning(r.kind.summary("Unused Activation Token Not Revoked"),
			r.kind.sayf("The activation token minted in this run for secondary %q was not used, and revoking it on the cluster at %s failed, "+
				"so it stays valid until its ttl ends and the id stays admitted. Revoke it yourself "+
				"(vault write sys/replication/dr/primary/revoke-secondary id=%s).\n\nOriginal Error: %s",
				rec.SecondaryID, c.Address(), rec.SecondaryID, errorText(err)))
		return
	}
	logWarnings(ctx, warnings)
}

// activationUsed decides whether a token minted in this run was used. When
// in doubt (status unreadable) it says used: revoking a live secondary
// would cut it off, keeping an unused admission costs a manual revoke.
func activationUsed(ctx context.Context, c *client.Client, k *replKind, rec mintRecord) (bool, string) {
	st, err := k.status(ctx, c)
	if err != nil {
		return true, k.words("DR status unreadable: ") + errorText(err)
	}
	if st.Mode != client.ModePrimary || !st.HasKnownSecondary(rec.SecondaryID) {
		return true, "no longer admitted: nothing to revoke"
	}
	for _, s := range st.Secondaries {
		if s.NodeID == rec.SecondaryID && (s.ConnectionStatus == "connected" || s.LastHeartbeat != "") {
			return true, "the secondary has connected to the primary"
		}
	}
	if rec.Wrapped {
		valid, err := c.WrappingTokenValid(ctx, rec.Token)
		switch {
		case err != nil:
			return true, "wrapping lookup failed: " + errorText(err)
		case !valid:
			return true, "the token was unwrapped (or expired): an enable may be under way"
		}
	}
	return false, "the token was never used"
}
