package replication

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/replication/drcrypto"
	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// applyBundle fills a secondary state from an activation bundle.
func applyBundle(next *state, b *drcrypto.Bundle) {
	next.Mode = ModeSecondary
	next.ClusterID = b.ClusterID
	next.SecondaryID = b.SecondaryID
	next.PrimaryClusterAddr = b.PrimaryClusterAddr
	next.PrimaryAPIAddr = b.PrimaryAPIAddr
	next.PrimaryCACert = b.CACert
	next.ClientCert, next.ClientKey = b.ClientCert, b.ClientKey
	if !slices.Contains(next.KnownPrimaryClusterAddrs, b.PrimaryClusterAddr) {
		next.KnownPrimaryClusterAddrs = append([]string{b.PrimaryClusterAddr}, next.KnownPrimaryClusterAddrs...)
	}
	next.CACert, next.CAKey, next.ServerCert, next.ServerKey, next.WrappingKey = "", "", "", "", ""
	next.Secondaries = nil
}

// EnableSecondary joins this cluster to a DR set as a secondary. The token
// is unwrapped first: a refused token changes nothing. Then every
// replicated key is wiped and the primary's data is synced.
func (m *Manager) EnableSecondary(ctx context.Context, req ActivationRequest) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	switch cur.Mode {
	case ModePrimary:
		return nil, apierr.Invalid("%s", m.say("this cluster is a DR primary: demote or disable it before enabling it as a secondary"))
	case ModeSecondary:
		return nil, apierr.Invalid(m.say("this cluster is already a DR secondary (cluster id %s): use sys/replication/dr/secondary/update-primary to follow another primary of the same DR set, or disable it first"), cur.ClusterID)
	}
	if req.Token == "" {
		return nil, apierr.Invalid("%s", m.say("missing required parameter \"token\": pass the activation token from the primary's sys/replication/dr/primary/secondary-token"))
	}
	bundle, err := m.activate(ctx, cur, req)
	if err != nil {
		return nil, err
	}
	next := &state{LastReindexEpoch: cur.LastReindexEpoch}
	applyBundle(next, bundle)
	if err := newTokenScope(next); err != nil {
		return nil, err
	}
	op, err := m.stateOp(ctx, next)
	if err != nil {
		return nil, err
	}
	ops := []storage.Op{op}
	if m.kind == KindDR {
		// A copy of another DR primary's carried keys is not this one's:
		// until the first heartbeat brings it, promotion installs nothing.
		ops = append(ops, storage.Op{Local: true, Key: carriedDigestKey, Delete: true})
	}
	if err := m.store.Wipe(ctx, ops...); err != nil {
		return nil, err
	}
	m.carried.held.Store(nil)
	m.quietPeer()
	m.adoptRootKey(bundle)
	m.roleChanged(ctx, "secondary enable")
	m.mu.Lock()
	m.st = next
	m.startSecondaryLocked(next)
	m.mu.Unlock()
	m.log.Info(m.say("DR replication enabled as secondary: replicated data wiped, syncing from the primary"), "cluster_id", next.ClusterID, "secondary_id", next.SecondaryID, "primary_cluster_addr", next.PrimaryClusterAddr)
	return &Result{Warnings: []string{m.say("This cluster is becoming a DR secondary: its replicated data was wiped and is being synced from the primary. It now unseals with the primary's key shares. Watch sys/replication/dr/status until state is stream-wals.")}}, nil
}

// Promote makes this secondary the primary of its DR set. It refuses while
// the secondary is measurably behind, unless force.
func (m *Manager) Promote(ctx context.Context, primaryClusterAddr string, force bool) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	if cur.Mode != ModeSecondary {
		return nil, apierr.Invalid(m.say("this cluster is not a DR secondary (mode %s): only a secondary can be promoted"), cur.Mode)
	}
	if !force {
		if behind, msg := m.behind(); behind {
			return nil, apierr.Unavailable("%s; wait for it to catch up, or promote with force=true and lose those entries", msg)
		}
	}
	if primaryClusterAddr == "" {
		primaryClusterAddr = m.opts.ClusterAddr
	}
	if err := checkClusterAddr(primaryClusterAddr); err != nil {
		return nil, err
	}
	lost := m.stopAndObserve(cur)
	resume := func(err error) (*Result, error) {
		// Go back to following the old primary: nothing changed.
		m.mu.Lock()
		if cur.hasPrimary() {
			m.startSecondaryLocked(cur)
		}
		m.mu.Unlock()
		return nil, err
	}
	// The lost primary's performance role and own keys come with the
	// promotion, in the same transaction (carried.go).
	install, err := m.installCarriedOps(ctx, primaryClusterAddr)
	if err != nil {
		return resume(fmt.Errorf("install the primary's carried keys: %w", err))
	}
	next := &state{ClusterID: cur.ClusterID, drSecrets: drSecrets{ExchangeKey: cur.ExchangeKey}, LastReindexEpoch: cur.LastReindexEpoch}
	if err := m.becomePrimary(ctx, next, primaryClusterAddr, install...); err != nil {
		return resume(err)
	}
	m.roleChanged(ctx, "promote")
	if len(install) > 0 {
		m.takeCarriedRole(ctx)
	}
	if m.kind == KindPerformance {
		return m.promotedPerformance(ctx, primaryClusterAddr, force), nil
	}
	if peer := m.perfPeer.Load(); peer != nil && peer.Mode() == ModeSecondary {
		// A performance secondary's replicated keyspace is its performance
		// primary's: the failover record (a replicated key) is not its to
		// write.
		m.log.Info("promoted cluster is a performance secondary: its failover is not recorded in the replicated keyspace")
	} else {
		m.recordPromotion(ctx, lost, primaryClusterAddr, force)
	}
	m.log.Info(m.say("DR secondary promoted to primary"), "cluster_id", cur.ClusterID, "primary_cluster_addr", primaryClusterAddr, "forced", force)
	return &Result{Warnings: []string{m.say("This cluster was promoted to DR primary and accepts writes. Other secondaries of this DR set need new activation tokens (update-primary); demote the old primary if it comes back.")}}, nil
}

// behind reports whether the last heartbeat showed the primary ahead.
func (m *Manager) behind() (bool, string) {
	m.mu.Lock()
	sec := m.secondary
	m.mu.Unlock()
	if sec == nil {
		return false, ""
	}
	primaryLast, at := sec.primaryPosition()
	applied := m.store.Position().LastWAL
	if at.IsZero() || primaryLast <= applied {
		return false, ""
	}
	return true, fmt.Sprintf("this secondary is %d WAL entries behind its primary (primary at %d, applied %d, as of a heartbeat %s ago)",
		primaryLast-applied, primaryLast, applied, m.now().Sub(at).Round(time.Millisecond))
}

// DisableSecondary leaves DR replication; the data stays.
func (m *Manager) DisableSecondary(ctx context.Context) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	if cur.Mode != ModeSecondary {
		return nil, m.wrongMode(cur, ModeSecondary)
	}
	next := &state{Mode: ModeDisabled, drSecrets: drSecrets{ExchangeKey: cur.ExchangeKey}, LastReindexEpoch: cur.LastReindexEpoch}
	if err := newTokenScope(next); err != nil {
		return nil, err
	}
	m.stopSecondary()
	if err := m.commit(ctx, next); err != nil {
		return nil, err
	}
	m.roleChanged(ctx, "secondary disable")
	m.log.Info(m.say("DR secondary disabled"), "cluster_id", cur.ClusterID)
	// A performance secondary left alone is a cluster of its own: its own
	// tokens and local mounts go where such a cluster keeps them.
	warnings := append([]string{m.say("DR replication was disabled on this secondary. Its data is kept; enabling it as a secondary again wipes it.")}, m.ownKeysToReplicated(ctx)...)
	return &Result{Warnings: warnings}, nil
}

// UpdatePrimary points this secondary at another primary of the same DR
// set, without a wipe. An empty token makes it forget its primary.
func (m *Manager) UpdatePrimary(ctx context.Context, req ActivationRequest) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	cur := m.snapshot()
	if cur.Mode != ModeSecondary {
		return nil, m.wrongMode(cur, ModeSecondary)
	}
	if req.Token == "" {
		next := cur.clone()
		next.PrimaryClusterAddr, next.PrimaryAPIAddr, next.PrimaryCACert, next.ClientCert, next.ClientKey, next.SecondaryID = "", "", "", "", "", ""
		if err := newTokenScope(next); err != nil {
			return nil, err
		}
		m.stopSecondary()
		if err := m.commit(ctx, next); err != nil {
			return nil, err
		}
		m.roleChanged(ctx, "update-primary")
		m.log.Info(m.say("DR secondary forgot its primary"))
		return &Result{Warnings: []string{"This secondary no longer follows a primary (state idle). Point it at one with update-primary and a new activation token."}}, nil
	}
	bundle, err := m.activate(ctx, cur, req)
	if err != nil {
		return nil, err
	}
	if bundle.ClusterID != cur.ClusterID {
		return nil, apierr.Invalid(m.say("the activation token is for DR set %s but this secondary belongs to DR set %s: update-primary only re-points within one DR set; to join another, disable this secondary and enable it again (that wipes its data)"), bundle.ClusterID, cur.ClusterID)
	}
	next := cur.clone()
	applyBundle(next, bundle)
	if err := newTokenScope(next); err != nil {
		return nil, err
	}
	m.stopSecondary()
	if err := m.commit(ctx, next); err != nil {
		return nil, err
	}
	m.adoptRootKey(bundle)
	m.roleChanged(ctx, "update-primary")
	m.mu.Lock()
	m.startSecondaryLocked(next)
	m.mu.Unlock()
	m.log.Info(m.say("DR secondary re-pointed"), "secondary_id", next.SecondaryID, "primary_cluster_addr", next.PrimaryClusterAddr)
	return &Result{Warnings: []string{"This secondary now follows the primary at " + next.PrimaryClusterAddr + " without a wipe; entries it has that the new primary lacks are discarded by a merkle sync."}}, nil
}
