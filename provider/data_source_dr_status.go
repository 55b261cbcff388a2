package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
)

var (
	_ datasource.DataSource              = (*drStatusDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*drStatusDataSource)(nil)
)

// NewDRStatusDataSource is the constructor of the vaultrepl_dr_status data source.
func NewDRStatusDataSource() datasource.DataSource { return &drStatusDataSource{} }

type drStatusDataSource struct{ data *providerData }

func (d *drStatusDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_dr_status"
}

func (d *drStatusDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads the DR replication status of the provider's cluster (`GET sys/replication/dr/status`, no token needed): " +
			"every field of the status, including the primary's `secondaries` and the secondary's `primaries`. Fields that do not apply " +
			"to the cluster's mode are null. Compare a secondary's `merkle_root` and `last_remote_wal` with its primary's `merkle_root` and " +
			"`last_wal` to see whether it has caught up.",
		Attributes: drStatusAttributes(),
	}
}

func (d *drStatusDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = providerDataFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *drStatusDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx = withMasking(ctx)
	_, st := clientAndStatus(ctx, d.data, &resp.Diagnostics)
	if st == nil {
		return
	}
	m := newDRStatusModel(st)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
