package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

var (
	_ datasource.DataSource              = (*drFailoverHistoryDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*drFailoverHistoryDataSource)(nil)
)

// NewDRFailoverHistoryDataSource is the constructor of the
// vaultrepl_dr_failover_history data source.
func NewDRFailoverHistoryDataSource() datasource.DataSource { return &drFailoverHistoryDataSource{} }

type drFailoverHistoryDataSource struct{ data *providerData }

type failoverHistoryModel struct {
	Limit     types.Int64      `tfsdk:"limit"`
	Failovers []failoverModel  `tfsdk:"failovers"`
	Discarded []discardedModel `tfsdk:"discarded"`
}

type failoverModel struct {
	ID                       types.String  `tfsdk:"id"`
	PromotedAt               types.String  `tfsdk:"promoted_at"`
	Forced                   types.Bool    `tfsdk:"forced"`
	PromotedClusterAddr      types.String  `tfsdk:"promoted_cluster_addr"`
	LostPrimaryClusterAddr   types.String  `tfsdk:"lost_primary_cluster_addr"`
	LostPrimaryLastHeartbeat types.String  `tfsdk:"lost_primary_last_heartbeat"`
	LostPrimaryLastWAL       types.Int64   `tfsdk:"lost_primary_last_wal"`
	AppliedWAL               types.Int64   `tfsdk:"applied_wal"`
	RecoveryPoint            types.String  `tfsdk:"recovery_point"`
	UnreplicatedEntries      types.Int64   `tfsdk:"unreplicated_entries"`
	UnreplicatedSeconds      types.Float64 `tfsdk:"unreplicated_seconds"`
	FirstWriteAt             types.String  `tfsdk:"first_write_at"`
	RecoveryTimeSeconds      types.Float64 `tfsdk:"recovery_time_seconds"`
	DiscardedWrites          types.Int64   `tfsdk:"discarded_writes"`
	DiscardedSeconds         types.Float64 `tfsdk:"discarded_seconds"`
}

type discardedModel struct {
	FailoverID  types.String  `tfsdk:"failover_id"`
	At          types.String  `tfsdk:"at"`
	ForkWAL     types.Int64   `tfsdk:"fork_wal"`
	Writes      types.Int64   `tfsdk:"writes"`
	First       types.String  `tfsdk:"first"`
	Last        types.String  `tfsdk:"last"`
	SpanSeconds types.Float64 `tfsdk:"span_seconds"`
	Complete    types.Bool    `tfsdk:"complete"`
}

func (d *drFailoverHistoryDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_dr_failover_history"
}

func (d *drFailoverHistoryDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	str := func(desc string) schema.Attribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true}
	}
	i64 := func(desc string) schema.Attribute {
		return schema.Int64Attribute{MarkdownDescription: desc, Computed: true}
	}
	f64 := func(desc string) schema.Attribute {
		return schema.Float64Attribute{MarkdownDescription: desc, Computed: true}
	}
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads the failover history of the provider's cluster's DR set (`GET " + client.FailoverHistoryPath + "`, an " +
			"extension of vaultrepl that Vault does not have; the token needs `read` on that path). Every promotion records what the promoted " +
			"secondary knew of its lost primary (its last heartbeat, how far ahead it was), the recovery point, the first write accepted " +
			"afterwards (so the recovery time), and — once the old primary is re-pointed — how many acknowledged writes it discarded. " +
			"The history is replicated to every member of the DR set and keeps the newest `limit` failovers. Times are RFC 3339 strings.",
		Attributes: map[string]schema.Attribute{
			"limit": i64("How many failovers the server keeps (the newest)."),
			"failovers": schema.ListNestedAttribute{
				MarkdownDescription: "The DR set's failovers, newest first.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"id":                          str("Id of the record (`failover_id` of `vaultrepl_dr_promotion`)."),
					"promoted_at":                 str("When the promotion happened."),
					"forced":                      schema.BoolAttribute{MarkdownDescription: "Whether the promotion was forced.", Computed: true},
					"promoted_cluster_addr":       str("Cluster address the promoted cluster advertises."),
					"lost_primary_cluster_addr":   str("Cluster address of the primary that was lost."),
					"lost_primary_last_heartbeat": str("When the promoted secondary last heard from the lost primary; null if it never did."),
					"lost_primary_last_wal":       i64("The lost primary's newest WAL index as the secondary last knew it."),
					"applied_wal":                 i64("The promoted cluster's WAL index at promotion."),
					"recovery_point":              str("Commit time of the entry at `applied_wal`: later writes of the lost primary are lost."),
					"unreplicated_entries":        i64("Entries known to be on the lost primary and not on the promoted cluster."),
					"unreplicated_seconds":        f64("Span of commit times of those entries, in seconds."),
					"first_write_at":              str("Commit time of the first write after the promotion; null until it lands."),
					"recovery_time_seconds":       f64("`first_write_at` minus `lost_primary_last_heartbeat`, in seconds; null until known."),
					"discarded_writes":            i64("Acknowledged writes the old primary discarded when re-pointed; null until it reported them."),
					"discarded_seconds":           f64("Span of commit times of those writes, in seconds; null until known."),
				}},
			},
			"discarded": schema.ListNestedAttribute{
				MarkdownDescription: "What the provider's cluster itself discarded as a re-pointed old primary, newest first (empty on " +
					"clusters that never were).",
				Computed: true,
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"failover_id":  str("The failover that replaced this cluster."),
					"at":           str("When the merkle sync discarded them."),
					"fork_wal":     i64("Last WAL index both histories share."),
					"writes":       i64("Acknowledged writes discarded (WAL entries after the fork)."),
					"first":        str("Commit time of the first of them."),
					"last":         str("Commit time of the last of them."),
					"span_seconds": f64("`last` minus `first`, in seconds."),
					"complete": schema.BoolAttribute{MarkdownDescription: "False when WAL retention had already trimmed some of them " +
						"(`writes` is then a lower bound).", Computed: true},
				}},
			},
		},
	}
}

func (d *drFailoverHistoryDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *drFailoverHistoryDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx = withMasking(ctx)
	c := clientFor(ctx, d.data, &resp.Diagnostics)
	if c == nil {
		return
	}
	h, err := c.FailoverHistory(ctx)
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot Read Failover History", "read the failover history", c.Address(),
			"The token needs read on "+client.FailoverHistoryPath+" (an extension of vaultrepl; a Vault server has no such path).", err)
		return
	}
	m := failoverHistoryModel{Limit: types.Int64Value(int64(h.Limit)), Failovers: []failoverModel{}, Discarded: []discardedModel{}}
	for i := range h.Failovers {
		rec := &h.Failovers[i]
		e := evidenceOf(rec)
		m.Failovers = append(m.Failovers, failoverModel{
			ID: e.FailoverID, PromotedAt: e.PromotedAt, Forced: types.BoolValue(rec.Forced),
			PromotedClusterAddr: types.StringValue(rec.PromotedClusterAddr), LostPrimaryClusterAddr: types.StringValue(rec.LostPrimaryClusterAddr),
			LostPrimaryLastHeartbeat: e.LostPrimaryLastHeartbeat,
			LostPrimaryLastWAL:       types.Int64Value(int64(rec.LostPrimaryLastWAL)), //nolint:gosec // WAL indexes fit int64
			AppliedWAL:               types.Int64Value(int64(rec.AppliedWAL)),         //nolint:gosec // WAL indexes fit int64
			RecoveryPoint:            e.RecoveryPoint, UnreplicatedEntries: e.UnreplicatedEntries, UnreplicatedSeconds: e.UnreplicatedSeconds,
			FirstWriteAt: e.FirstWriteAt, RecoveryTimeSeconds: e.RecoveryTimeSeconds,
			DiscardedWrites: e.DiscardedWrites, DiscardedSeconds: e.DiscardedSeconds,
		})
	}
	for _, x := range h.Discarded {
		at := x.At
		m.Discarded = append(m.Discarded, discardedModel{
			FailoverID: types.StringValue(x.FailoverID), At: timeString(&at),
			ForkWAL: types.Int64Value(int64(x.ForkWAL)), Writes: types.Int64Value(int64(x.Writes)), //nolint:gosec // counts fit int64
			First: timeString(x.First), Last: timeString(x.Last), SpanSeconds: types.Float64Value(x.SpanSeconds),
			Complete: types.BoolValue(x.Complete),
		})
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
