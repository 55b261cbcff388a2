package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var (
	_ datasource.DataSource              = (*replicationStatusDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*replicationStatusDataSource)(nil)
)

// NewReplicationStatusDataSource is the constructor of the
// vaultrepl_replication_status data source.
func NewReplicationStatusDataSource() datasource.DataSource { return &replicationStatusDataSource{} }

type replicationStatusDataSource struct{ data *providerData }

type replicationStatusModel struct {
	DRMode          types.String `tfsdk:"dr_mode"`
	PerformanceMode types.String `tfsdk:"performance_mode"`
	DR              types.Object `tfsdk:"dr"`
	Performance     types.Object `tfsdk:"performance"`
}

func (d *replicationStatusDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_replication_status"
}

func (d *replicationStatusDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads `GET sys/replication/status` (no token needed): the DR and the performance replication status " +
			"of the provider's cluster. Use `vaultrepl_dr_status` or `vaultrepl_performance_status` when only one family matters.",
		Attributes: map[string]schema.Attribute{
			"dr_mode": schema.StringAttribute{Computed: true,
				MarkdownDescription: "DR replication mode: `primary`, `secondary`, `bootstrapping` or `disabled` (the same as `dr.mode`)."},
			"performance_mode": schema.StringAttribute{Computed: true,
				MarkdownDescription: "Performance replication mode: `primary`, `secondary`, `bootstrapping` or `disabled` (the same as `performance.mode`)."},
			"dr": schema.SingleNestedAttribute{Computed: true,
				MarkdownDescription: "The DR status, with the same fields as the `vaultrepl_dr_status` data source.",
				Attributes:          statusAttributes(drKind)},
			"performance": schema.SingleNestedAttribute{Computed: true,
				MarkdownDescription: "The performance replication status, with the same fields as the `vaultrepl_performance_status` data source.",
				Attributes:          statusAttributes(performanceKind)},
		},
	}
}

func (d *replicationStatusDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *replicationStatusDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx = withMasking(ctx)
	c := clientFor(ctx, d.data, &resp.Diagnostics)
	if c == nil {
		return
	}
	st, err := c.ReplicationStatus(ctx)
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot Read Replication Status", "read sys/replication/status", c.Address(),
			"Check that the cluster is running and unsealed.", err)
		return
	}
	dr, diags := types.ObjectValueFrom(ctx, drStatusAttrTypes(), newDRStatusModel(st.DR))
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	perf, diags := types.ObjectValueFrom(ctx, drStatusAttrTypes(), newDRStatusModel(st.Performance))
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	m := replicationStatusModel{DRMode: types.StringValue(st.DR.Mode), PerformanceMode: optString(st.PerformanceMode), DR: dr, Performance: perf}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
