package replication

import (
	"context"
	"errors"
	"slices"
)

// Following a performance primary across its DR failover. A performance
// primary's DR secondaries hold everything it is, its performance set
// included (carried.go), so one of them, promoted, is the same
// performance primary at another address. The primary therefore
// advertises, beside its own cluster address (and its HA nodes'), the
// cluster addresses its DR secondaries reported, in the stream's start
// frame and in a heartbeat whenever the list changes; the performance
// secondary stores them as known_primary_cluster_addrs and tries each in
// turn when its stream fails (ha.go's nextPrimaryBase). A DR secondary not
// yet promoted refuses the performance handshake (its performance Manager
// is no primary), so the secondary keeps trying until one is.

// advertisedAddrs is what a primary's start frame offers its secondaries
// to try: its HA nodes and, for a performance primary with DR
// secondaries, its own address and theirs.
func (m *Manager) advertisedAddrs(ctx context.Context) []string {
	addrs := m.haClusterAddrs(ctx)
	if m.kind != KindPerformance {
		return addrs
	}
	dr := m.drPeer.Load()
	if dr == nil {
		return addrs
	}
	extra := dr.drSecondaryAddrs()
	if len(extra) == 0 {
		return addrs
	}
	if len(addrs) == 0 {
		addrs = []string{m.snapshot().PrimaryClusterAddr}
	}
	for _, a := range extra {
		if !slices.Contains(addrs, a) {
			addrs = append(addrs, a)
		}
	}
	return addrs
}

// drSecondaryAddrs lists the cluster addresses this DR primary's admitted
// secondaries reported, in secondary id order.
func (m *Manager) drSecondaryAddrs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.Mode != ModePrimary {
		return nil
	}
	var out []string
	for _, id := range m.st.knownSecondaries() {
		if a := m.st.Secondaries[id].ClusterAddr; a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// recordSecondaryAddr keeps the cluster address a DR secondary reported,
// in the stored state, so that it is still advertised after a restart.
// Written only when it changed; the lock is held across the write so no
// transition interleaves (as learnPrimaryAddrs does).
func (m *Manager) recordSecondaryAddr(ctx context.Context, id, addr string) {
	if m.kind != KindDR || addr == "" {
		return
	}
	if _, err := dialAddress(addr); err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := m.st.Secondaries[id]
	if m.st.Mode != ModePrimary || rec == nil || rec.ClusterAddr == addr {
		return
	}
	next := m.st.clone()
	next.Secondaries[id].ClusterAddr = addr
	op, err := m.stateOp(ctx, next)
	if err == nil {
		_, err = m.store.Write(ctx, op)
	}
	if err != nil {
		m.log.Warn("could not record a secondary's cluster address", "secondary_id", id, "error", err)
		return
	}
	m.st = next
}

// errDormant: a DR secondary's performance role is its DR primary's.
var errDormant = errors.New("this cluster is a DR secondary: its performance replication role waits for its promotion")

// dormant says whether this performance Manager's role waits: on a DR
// secondary the cluster is a copy of its DR primary, which holds the
// performance role (a demoted or re-pointed old primary keeps its
// performance state until then). It neither serves performance
// secondaries nor follows a performance primary (the DR stream owns the
// keyspace); a DR promotion gives it the role its DR primary had.
func (m *Manager) dormant() bool {
	if m.kind != KindPerformance {
		return false
	}
	dr := m.drPeer.Load()
	return dr != nil && dr.Mode() == ModeSecondary
}

// quietPeer makes this cluster's performance role wait now that it is a DR
// secondary: open performance streams close (their secondaries try their
// other known addresses) and a performance syncer stops at once; neither
// starts again while dormant.
func (m *Manager) quietPeer() {
	peer := m.perfPeer.Load()
	if peer == nil {
		return
	}
	peer.mu.Lock()
	defer peer.mu.Unlock()
	if peer.primary != nil {
		peer.primary.closeAll()
	}
	if peer.secondary != nil {
		peer.secondary.restart()
	}
}

// followedPrimary records the addresses a performance primary advertises
// when they are not those this secondary stored (it followed the set's
// primary to a promoted DR secondary): status then names the primary it
// follows, and its own DR secondaries receive the new addresses. The old
// address stays a known one, to try on a failback.
func (m *Manager) followedPrimary(ctx context.Context, st *state, clusterAddr, apiAddr string) {
	if m.kind != KindPerformance || clusterAddr == "" || clusterAddr == st.PrimaryClusterAddr {
		return
	}
	if _, err := dialAddress(clusterAddr); err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.Mode != ModeSecondary {
		return
	}
	next := m.st.clone()
	if old := next.PrimaryClusterAddr; old != "" && !slices.Contains(next.KnownPrimaryClusterAddrs, old) {
		next.KnownPrimaryClusterAddrs = append(next.KnownPrimaryClusterAddrs, old)
	}
	if !slices.Contains(next.KnownPrimaryClusterAddrs, clusterAddr) {
		next.KnownPrimaryClusterAddrs = append(next.KnownPrimaryClusterAddrs, clusterAddr)
	}
	next.PrimaryClusterAddr = clusterAddr
	if apiAddr != "" {
		next.PrimaryAPIAddr = apiAddr
	}
	op, err := m.stateOp(ctx, next)
	if err == nil {
		_, err = m.store.Write(ctx, op)
	}
	if err != nil {
		m.log.Warn("could not record the performance primary's new address", "error", err)
		return
	}
	m.st = next
	st.PrimaryClusterAddr, st.PrimaryAPIAddr = next.PrimaryClusterAddr, next.PrimaryAPIAddr
	st.KnownPrimaryClusterAddrs = slices.Clone(next.KnownPrimaryClusterAddrs)
	m.log.Info("following the performance primary at a new address", "primary_cluster_addr", clusterAddr)
}

// ownClusterAddr is the cluster address this secondary reports.
func (m *Manager) ownClusterAddr() string { return m.opts.ClusterAddr }
