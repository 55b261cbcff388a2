package replication

import "context"

// promotedPerformance finishes a performance secondary's promotion (the
// state machine's Promote made it the primary of its set, with a new CA):
// its own tokens and local mounts move to where a primary keeps them. As in
// Vault, tokens are per performance cluster, so the old primary's tokens
// (which never reached this cluster) do not work here and its clients
// authenticate again; this cluster's own tokens keep working. Vault keeps
// no failover record for performance promotions, nor does this server.
func (m *Manager) promotedPerformance(ctx context.Context, addr string, force bool) *Result {
	warnings := []string{"This cluster was promoted to performance primary of its set and accepts writes. " +
		"Its own tokens and local mounts stay; the old primary's tokens do not work here. " +
		"Other performance secondaries need new activation tokens (sys/replication/performance/secondary/update-primary); " +
		"demote the old primary (sys/replication/performance/primary/demote) and point it here the same way."}
	warnings = append(warnings, m.ownKeysToReplicated(ctx)...)
	m.log.Info("performance secondary promoted to primary", "cluster_id", m.snapshot().ClusterID, "primary_cluster_addr", addr, "forced", force)
	return &Result{Warnings: warnings}
}

// ownKeysToReplicated moves this cluster's own tokens and local mounts to
// where a cluster that is no performance secondary keeps them, and says
// in a warning when that failed.
func (m *Manager) ownKeysToReplicated(ctx context.Context) []string {
	if m.kind != KindPerformance || m.opts.OwnKeysToReplicated == nil {
		return nil
	}
	if err := m.opts.OwnKeysToReplicated(ctx); err != nil {
		m.log.Error("could not move this cluster's own tokens and local mounts into the replicated keyspace", "error", err)
		return []string{"This cluster's own tokens and local mounts could not all be moved to where a primary keeps them; see the server log."}
	}
	return nil
}

// demotingPerformance moves a performance primary's own tokens and local
// mounts to where a secondary keeps them, before it is demoted.
func (m *Manager) demotingPerformance(ctx context.Context) error {
	if m.kind != KindPerformance || m.opts.OwnKeysToLocal == nil {
		return nil
	}
	return m.opts.OwnKeysToLocal(ctx)
}
