package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/float64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// promotionEvidence is what vaultrepl_dr_promotion exports of the failover
// it caused, read from the server's failover history (an extension of this
// server: GET sys/vaultrepl/dr/failovers). Embedded in drPromotionModel.
type promotionEvidence struct {
	FailoverID               types.String  `tfsdk:"failover_id"`
	PromotedAt               types.String  `tfsdk:"promoted_at"`
	LostPrimaryLastHeartbeat types.String  `tfsdk:"lost_primary_last_heartbeat"`
	RecoveryPoint            types.String  `tfsdk:"recovery_point"`
	UnreplicatedEntries      types.Int64   `tfsdk:"unreplicated_entries"`
	UnreplicatedSeconds      types.Float64 `tfsdk:"unreplicated_seconds"`
	FirstWriteAt             types.String  `tfsdk:"first_write_at"`
	RecoveryTimeSeconds      types.Float64 `tfsdk:"recovery_time_seconds"`
	DiscardedWrites          types.Int64   `tfsdk:"discarded_writes"`
	DiscardedSeconds         types.Float64 `tfsdk:"discarded_seconds"`
}

// addPromotionEvidence adds the evidence attributes to the resource schema.
// All are computed, kept across plans and refreshed by every read.
func addPromotionEvidence(attrs map[string]schema.Attribute) {
	keepS := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	keepI := []planmodifier.Int64{int64planmodifier.UseStateForUnknown()}
	keepF := []planmodifier.Float64{float64planmodifier.UseStateForUnknown()}
	str := func(desc string) schema.Attribute {
		return schema.StringAttribute{MarkdownDescription: desc, Computed: true, PlanModifiers: keepS}
	}
	attrs["failover_id"] = str("Id of this promotion's record in the DR set's failover history (see the `vaultrepl_dr_failover_history` data source).")
	attrs["promoted_at"] = str("When the promotion happened (RFC 3339, the promoted cluster's clock).")
	attrs["lost_primary_last_heartbeat"] = str("When the promoted secondary last heard from its lost primary (a heartbeat or any byte of its stream).")
	attrs["recovery_point"] = str("Commit time of the last entry the promoted cluster held from the lost primary: writes the lost primary " +
		"committed after it are lost.")
	attrs["unreplicated_entries"] = schema.Int64Attribute{MarkdownDescription: "WAL entries the promoted secondary knew its lost primary " +
		"had and it did not (the recovery point in entries, as far as the secondary could see).", Computed: true, PlanModifiers: keepI}
	attrs["unreplicated_seconds"] = schema.Float64Attribute{MarkdownDescription: "Span of commit times of those entries, in seconds.",
		Computed: true, PlanModifiers: keepF}
	attrs["first_write_at"] = str("When the promoted cluster committed its first write after the promotion; null until that write lands " +
		"(a later refresh fills it in).")
	attrs["recovery_time_seconds"] = schema.Float64Attribute{MarkdownDescription: "Recovery time: `first_write_at` minus " +
		"`lost_primary_last_heartbeat`, in seconds; null until the first write lands.", Computed: true, PlanModifiers: keepF}
	attrs["discarded_writes"] = schema.Int64Attribute{MarkdownDescription: "Acknowledged writes the old primary discarded when it was " +
		"re-pointed to this cluster (the true recovery point); null until it has re-pointed and reported them.", Computed: true, PlanModifiers: keepI}
	attrs["discarded_seconds"] = schema.Float64Attribute{MarkdownDescription: "Span of commit times of those writes, in seconds; null " +
		"until known.", Computed: true, PlanModifiers: keepF}
}

// nullEvidence is the evidence of a promotion with no record (all null).
func nullEvidence() promotionEvidence {
	return promotionEvidence{
		FailoverID: types.StringNull(), PromotedAt: types.StringNull(), LostPrimaryLastHeartbeat: types.StringNull(),
		RecoveryPoint: types.StringNull(), UnreplicatedEntries: types.Int64Null(), UnreplicatedSeconds: types.Float64Null(),
		FirstWriteAt: types.StringNull(), RecoveryTimeSeconds: types.Float64Null(), DiscardedWrites: types.Int64Null(),
		DiscardedSeconds: types.Float64Null(),
	}
}

func timeString(t *time.Time) types.String {
	if t == nil {
		return types.StringNull()
	}
	return types.StringValue(t.UTC().Format(time.RFC3339Nano))
}

// evidenceOf turns a failover record into the resource's attributes.
func evidenceOf(rec *client.FailoverRecord) promotionEvidence {
	e := nullEvidence()
	e.FailoverID = types.StringValue(rec.ID)
	at := rec.PromotedAt
	e.PromotedAt = timeString(&at)
	e.LostPrimaryLastHeartbeat = timeString(rec.LostPrimaryLastHeartbeat)
	e.RecoveryPoint = timeString(rec.RecoveryPoint)
	e.UnreplicatedEntries = types.Int64Value(int64(rec.UnreplicatedEntries)) //nolint:gosec // WAL indexes fit int64
	e.UnreplicatedSeconds = types.Float64Value(rec.UnreplicatedSpanSeconds)
	e.FirstWriteAt = timeString(rec.FirstWriteAt)
	e.RecoveryTimeSeconds = types.Float64PointerValue(rec.RecoveryTimeSeconds)
	if d := rec.Discarded; d != nil {
		e.DiscardedWrites = types.Int64Value(int64(d.Writes)) //nolint:gosec // counts fit int64
		e.DiscardedSeconds = types.Float64Value(d.SpanSeconds)
	}
	return e
}

// refreshEvidence reads the failover history and fills e: by its
// failover_id, or (right after a promotion, newest) the newest record. The
// evidence is an extension: a cluster that cannot answer (an older server,
// a token without read on the path) leaves e as it is, with a warning.
func refreshEvidence(ctx context.Context, c *client.Client, e *promotionEvidence, newest bool, diags *diag.Diagnostics) {
	h, err := c.FailoverHistory(ctx)
	if err != nil {
		tflog.Warn(ctx, "cannot read the failover history; recovery time and point are not refreshed", map[string]any{"error": errorText(err)})
		diags.AddWarning("Failover Evidence Unavailable",
			"The cluster at "+c.Address()+" did not answer GET "+client.FailoverHistoryPath+" ("+errorText(err)+"), so recovery time and "+
				"recovery point were not refreshed. The token needs read on that path; the promotion itself is unaffected.")
		return
	}
	var rec *client.FailoverRecord
	switch {
	case !e.FailoverID.IsNull() && !e.FailoverID.IsUnknown():
		rec = h.Find(e.FailoverID.ValueString())
	case newest && len(h.Failovers) > 0:
		rec = &h.Failovers[0]
	}
	if rec == nil {
		return // older than the history keeps, or never recorded: keep what we have
	}
	*e = evidenceOf(rec)
}
