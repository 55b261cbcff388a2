package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
)

var (
	_ datasource.DataSource              = (*statusDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*statusDataSource)(nil)
)

// NewDRStatusDataSource is the constructor of the vaultrepl_dr_status data source.
func NewDRStatusDataSource() datasource.DataSource { return &statusDataSource{kind: drKind} }

// NewPerformanceStatusDataSource is the constructor of the
// vaultrepl_performance_status data source.
func NewPerformanceStatusDataSource() datasource.DataSource {
	return &statusDataSource{kind: performanceKind}
}

// statusDataSource is vaultrepl_dr_status and vaultrepl_performance_status.
type statusDataSource struct {
	data *providerData
	kind *replKind
}

func (d *statusDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = d.kind.typeName(req.ProviderTypeName, "status")
}

func (d *statusDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: d.kind.words("Reads the DR replication status of the provider's cluster (`GET sys/replication/dr/status`, no token needed): " +
			"every field of the status, including the primary's `secondaries` and the secondary's `primaries`. Fields that do not apply " +
			"to the cluster's mode are null. Compare a secondary's `merkle_root` and `last_remote_wal` with its primary's `merkle_root` and " +
			"`last_wal` to see whether it has caught up."),
		Attributes: statusAttributes(d.kind),
	}
}

func (d *statusDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *statusDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx = withMasking(ctx)
	_, st := d.kind.clientAndStatus(ctx, d.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	m := newDRStatusModel(st)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
