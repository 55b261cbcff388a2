package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// The status fields of API.md §4, the same for both families, shared by
// vaultrepl_dr_status and vaultrepl_performance_status (top level) and
// vaultrepl_replication_status (under `dr` and `performance`). Fields that
// do not apply to the cluster's mode are null.

type drStatusModel struct {
	Mode                     types.String `tfsdk:"mode"`
	ClusterID                types.String `tfsdk:"cluster_id"`
	State                    types.String `tfsdk:"state"`
	MerkleRoot               types.String `tfsdk:"merkle_root"`
	LastWAL                  types.Int64  `tfsdk:"last_wal"`
	LastRemoteWAL            types.Int64  `tfsdk:"last_remote_wal"`
	LastReindexEpoch         types.String `tfsdk:"last_reindex_epoch"`
	PrimaryClusterAddr       types.String `tfsdk:"primary_cluster_addr"`
	KnownSecondaries         types.List   `tfsdk:"known_secondaries"`
	Secondaries              types.List   `tfsdk:"secondaries"`
	KnownPrimaryClusterAddrs types.List   `tfsdk:"known_primary_cluster_addrs"`
	Primaries                types.List   `tfsdk:"primaries"`
	SecondaryID              types.String `tfsdk:"secondary_id"`
	ConnectionState          types.String `tfsdk:"connection_state"`
}

var peerAttrTypes = map[string]attr.Type{
	"node_id":                    types.StringType,
	"api_address":                types.StringType,
	"cluster_address":            types.StringType,
	"connection_status":          types.StringType,
	"last_heartbeat":             types.StringType,
	"last_heartbeat_duration_ms": types.StringType,
	"clock_skew_ms":              types.StringType,
}

var peerObjectType = types.ObjectType{AttrTypes: peerAttrTypes}

func peerAttributes(nodeID bool) map[string]schema.Attribute {
	a := map[string]schema.Attribute{
		"api_address":                schema.StringAttribute{Computed: true, MarkdownDescription: "API address of the peer."},
		"cluster_address":            schema.StringAttribute{Computed: true, MarkdownDescription: "Cluster address the replication stream uses."},
		"connection_status":          schema.StringAttribute{Computed: true, MarkdownDescription: "`connected` or `disconnected`, from real heartbeats."},
		"last_heartbeat":             schema.StringAttribute{Computed: true, MarkdownDescription: "Time of the last heartbeat (RFC 3339); null before the first."},
		"last_heartbeat_duration_ms": schema.StringAttribute{Computed: true, MarkdownDescription: "Round trip of the last heartbeat in milliseconds (a string, as Vault reports it)."},
		"clock_skew_ms":              schema.StringAttribute{Computed: true, MarkdownDescription: "Estimated clock skew to the peer in milliseconds (a string, as Vault reports it)."},
	}
	desc := "Always null here (set only in `secondaries`)."
	if nodeID {
		desc = "Id of the secondary (its `secondary_id`)."
	}
	a["node_id"] = schema.StringAttribute{Computed: true, MarkdownDescription: desc}
	return a
}

// statusAttributes is the schema of the status fields, in k's words.
func statusAttributes(k *replKind) map[string]schema.Attribute {
	attrs := map[string]schema.Attribute{
		"mode": schema.StringAttribute{Computed: true,
			MarkdownDescription: "DR replication mode: `primary`, `secondary`, `bootstrapping` (a secondary during its first sync) or `disabled`."},
		"cluster_id": schema.StringAttribute{Computed: true,
			MarkdownDescription: "Id of the DR set (the same on a primary and its secondaries). Null when disabled."},
		"state": schema.StringAttribute{Computed: true,
			MarkdownDescription: "`running` on a primary; on a secondary `connecting`, `merkle-diff`, `merkle-sync`, `stream-wals` (caught up) or `idle`."},
		"merkle_root": schema.StringAttribute{Computed: true,
			MarkdownDescription: "Merkle root (40 hex characters) over the replicated data; a secondary that caught up has its primary's."},
		"last_wal": schema.Int64Attribute{Computed: true,
			MarkdownDescription: "Primary only: index of the newest WAL entry. It moves with every replicated write."},
		"last_remote_wal": schema.Int64Attribute{Computed: true,
			MarkdownDescription: "Secondary only: newest primary WAL index applied here. `last_wal` minus this is the lag."},
		"last_reindex_epoch": schema.StringAttribute{Computed: true,
			MarkdownDescription: "Unix time (seconds, as a string) of the last merkle reindex."},
		"primary_cluster_addr": schema.StringAttribute{Computed: true,
			MarkdownDescription: "On a primary, the cluster address it was enabled with; on a secondary, its primary's cluster address."},
		"known_secondaries": schema.ListAttribute{Computed: true, ElementType: types.StringType,
			MarkdownDescription: "Primary only: ids of the live (admitted, not revoked) secondaries."},
		"secondaries": schema.ListNestedAttribute{Computed: true,
			MarkdownDescription: "Primary only: one entry per known secondary, with what its heartbeats say.",
			NestedObject:        schema.NestedAttributeObject{Attributes: peerAttributes(true)}},
		"known_primary_cluster_addrs": schema.ListAttribute{Computed: true, ElementType: types.StringType,
			MarkdownDescription: "Secondary only: cluster addresses of the primaries it has known."},
		"primaries": schema.ListNestedAttribute{Computed: true,
			MarkdownDescription: "Secondary only: the primary it follows, with what its heartbeats say (empty when it follows none).",
			NestedObject:        schema.NestedAttributeObject{Attributes: peerAttributes(false)}},
		"secondary_id": schema.StringAttribute{Computed: true,
			MarkdownDescription: "Secondary only: the id its primary admitted it under."},
		"connection_state": schema.StringAttribute{Computed: true,
			MarkdownDescription: "Secondary only: `ready`, `connecting`, `transient_failure` or `idle`."},
	}
	for name, a := range attrs {
		switch a := a.(type) {
		case schema.StringAttribute:
			a.MarkdownDescription = k.words(a.MarkdownDescription)
			attrs[name] = a
		case schema.Int64Attribute:
			a.MarkdownDescription = k.words(a.MarkdownDescription)
			attrs[name] = a
		}
	}
	return attrs
}

func drStatusAttrTypes() map[string]attr.Type {
	return map[string]attr.Type{
		"mode": types.StringType, "cluster_id": types.StringType, "state": types.StringType, "merkle_root": types.StringType,
		"last_wal": types.Int64Type, "last_remote_wal": types.Int64Type, "last_reindex_epoch": types.StringType,
		"primary_cluster_addr": types.StringType, "known_secondaries": types.ListType{ElemType: types.StringType},
		"secondaries": types.ListType{ElemType: peerObjectType}, "known_primary_cluster_addrs": types.ListType{ElemType: types.StringType},
		"primaries": types.ListType{ElemType: peerObjectType}, "secondary_id": types.StringType, "connection_state": types.StringType,
	}
}

func optString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func stringList(items []string, applies bool) types.List {
	if !applies {
		return types.ListNull(types.StringType)
	}
	vals := make([]attr.Value, 0, len(items))
	for _, s := range items {
		vals = append(vals, types.StringValue(s))
	}
	return types.ListValueMust(types.StringType, vals)
}

func peerList(peers []client.PeerInfo, applies bool) types.List {
	if !applies {
		return types.ListNull(peerObjectType)
	}
	vals := make([]attr.Value, 0, len(peers))
	for _, p := range peers {
		vals = append(vals, types.ObjectValueMust(peerAttrTypes, map[string]attr.Value{
			"node_id":                    optString(p.NodeID),
			"api_address":                optString(p.APIAddress),
			"cluster_address":            optString(p.ClusterAddress),
			"connection_status":          optString(p.ConnectionStatus),
			"last_heartbeat":             optString(p.LastHeartbeat),
			"last_heartbeat_duration_ms": optString(p.LastHeartbeatDurationMS),
			"clock_skew_ms":              optString(p.ClockSkewMS),
		}))
	}
	return types.ListValueMust(peerObjectType, vals)
}

func newDRStatusModel(st *client.DRStatus) drStatusModel {
	primary, secondary := st.Mode == client.ModePrimary, st.IsSecondary()
	m := drStatusModel{
		Mode:                     types.StringValue(st.Mode),
		ClusterID:                optString(st.ClusterID),
		State:                    optString(st.State),
		MerkleRoot:               optString(st.MerkleRoot),
		LastWAL:                  types.Int64Null(),
		LastRemoteWAL:            types.Int64Null(),
		LastReindexEpoch:         optString(st.LastReindexEpoch),
		PrimaryClusterAddr:       optString(st.PrimaryClusterAddr),
		KnownSecondaries:         stringList(st.KnownSecondaries, primary),
		Secondaries:              peerList(st.Secondaries, primary),
		KnownPrimaryClusterAddrs: stringList(st.KnownPrimaryClusterAddrs, secondary),
		Primaries:                peerList(st.Primaries, secondary),
		SecondaryID:              optString(st.SecondaryID),
		ConnectionState:          optString(st.ConnectionState),
	}
	if primary {
		m.LastWAL = types.Int64Value(int64(st.LastWAL))
	}
	if secondary {
		m.LastRemoteWAL = types.Int64Value(int64(st.LastRemoteWAL))
	}
	return m
}
