package replication

import (
	"context"
	"fmt"
	"io"
	"time"
)

// writeFailoverMetrics writes the newest failover of the DR set and what
// this cluster discarded as an old primary. Nothing is written before the
// first failover: every value is a measurement.
func (m *Manager) writeFailoverMetrics(w io.Writer) {
	ctx, cancel := context.WithTimeout(m.stopCtx, 5*time.Second)
	defer cancel()
	h, err := m.History(ctx)
	if err != nil {
		m.log.Warn("failover metrics", "error", err)
		return
	}
	g := func(name, help string, value any) {
		_, _ = fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %v\n", name, help, name, name, value)
	}
	if len(h.Failovers) > 0 {
		f := h.Failovers[0]
		g("vaultrepl_dr_failover_records", "Failovers kept in this DR set's history (the newest "+fmt.Sprint(h.Limit)+").", len(h.Failovers))
		g("vaultrepl_dr_last_failover_timestamp_seconds", "When the newest failover's promotion happened (Unix seconds).", float64(f.PromotedAt.UnixNano())/1e9)
		g("vaultrepl_dr_last_failover_unreplicated_entries", "WAL entries the promoted secondary knew its lost primary had and it did not.", f.UnreplicatedEntries)
		g("vaultrepl_dr_last_failover_unreplicated_seconds", "Span of commit times of those entries.", f.UnreplicatedSpanSeconds)
		if f.RecoveryTimeSeconds != nil {
			g("vaultrepl_dr_last_failover_recovery_time_seconds", "First write accepted after the promotion minus the lost primary's last heartbeat.", *f.RecoveryTimeSeconds)
		}
		if f.Discarded != nil {
			g("vaultrepl_dr_last_failover_discarded_writes", "Acknowledged writes the re-pointed old primary discarded (the true recovery point).", f.Discarded.Writes)
			g("vaultrepl_dr_last_failover_discarded_seconds", "Span of commit times of those writes.", f.Discarded.SpanSeconds)
		}
	}
	if len(h.Discarded) > 0 {
		d := h.Discarded[0]
		g("vaultrepl_dr_discarded_writes", "Writes this cluster discarded when it re-pointed as an old primary (newest failover).", d.Writes)
		g("vaultrepl_dr_discarded_seconds", "Span of commit times of those writes.", d.SpanSeconds)
	}
}
