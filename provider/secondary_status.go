package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// secondaryStatus is what vaultrepl_dr_secondary and
// vaultrepl_performance_secondary read back from the cluster's status of
// their family (embedded in both models).
type secondaryStatus struct {
	ClusterID          types.String `tfsdk:"cluster_id"`
	SecondaryID        types.String `tfsdk:"secondary_id"`
	State              types.String `tfsdk:"state"`
	PrimaryClusterAddr types.String `tfsdk:"primary_cluster_addr"`
}

func (m *secondaryStatus) setStatus(st *client.DRStatus) {
	m.ClusterID = types.StringValue(st.ClusterID)
	m.SecondaryID = types.StringValue(st.SecondaryID)
	m.State = types.StringValue(st.State)
	m.PrimaryClusterAddr = types.StringValue(st.PrimaryClusterAddr)
}

// unknownStatus is the status of a secondary that never answered.
func unknownStatus() secondaryStatus {
	return secondaryStatus{ClusterID: types.StringNull(), SecondaryID: types.StringNull(), State: types.StringValue(""), PrimaryClusterAddr: types.StringNull()}
}

// secondaryStatusAttributes adds the schema of secondaryStatus, in k's words.
func secondaryStatusAttributes(k *replKind, attrs map[string]schema.Attribute) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{
			MarkdownDescription: k.words(desc),
			Computed:            true,
			PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
		}
	}
	attrs["cluster_id"] = computed("Id of the DR set the cluster belongs to (the primary's `cluster_id`).")
	attrs["secondary_id"] = computed("Id the primary admitted this secondary under. The import id.")
	attrs["state"] = computed("Replication state at the last refresh: `connecting`, `merkle-diff`, `merkle-sync`, `stream-wals` (caught up and streaming) or `idle`.")
	attrs["primary_cluster_addr"] = computed("Cluster address of the primary the secondary follows, at the last refresh.")
}

// importSecondary imports the secondary of family k whose secondary id is
// the import id.
func importSecondary(ctx context.Context, k *replKind, data *providerData, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ctx = withMasking(ctx)
	c, st := k.clientAndStatus(ctx, data, &resp.Diagnostics)
	if st == nil {
		return
	}
	if !st.IsSecondary() || st.SecondaryID != req.ID {
		resp.Diagnostics.AddError(k.summary("Cannot Import DR Secondary"),
			k.sayf("The cluster at %s is not a DR secondary with secondary id %q (mode %q, secondary id %q). "+
				"Import with the secondary_id shown by sys/replication/dr/status on the provider's cluster.", c.Address(), req.ID, st.Mode, st.SecondaryID))
		return
	}
	var s secondaryStatus
	s.setStatus(st)
	for attr, v := range map[string]types.String{
		"cluster_id": s.ClusterID, "secondary_id": s.SecondaryID, "state": s.State, "primary_cluster_addr": s.PrimaryClusterAddr,
	} {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root(attr), v)...)
	}
}
