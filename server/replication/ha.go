package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// An HA cluster shares one database between nodes, and only its active
// node may act on the DR role: a standby neither applies a primary's
// stream (its writes are fenced off anyway) nor serves one from state it
// loaded before another node changed it. The node suspends the Manager
// while standby and resumes it, from the stored state, when it becomes
// active, so a new active node continues from the stored WAL index.

// Suspend stops the syncer and the streams and keeps them stopped until
// Resume; the stored role is unchanged.
func (m *Manager) Suspend() {
	m.transition.Lock()
	defer m.transition.Unlock()
	m.suspended.Store(true)
	m.stopSecondary()
	m.mu.Lock()
	m.stopPrimaryLocked()
	m.mu.Unlock()
}

// Resume reloads the stored DR state (the previous active node may have
// changed the role or admitted secondaries) and starts what the role needs.
func (m *Manager) Resume(ctx context.Context) error {
	m.transition.Lock()
	defer m.transition.Unlock()
	// The previous active node may have rotated or rekeyed the barrier's
	// keyring: read it again before this node reads or writes.
	if m.opts.Keys != nil {
		m.opts.Keys.RoleChanged()
	}
	st, err := loadState(ctx, m.store, m.kind.stateKey())
	if err != nil {
		return fmt.Errorf("resume %s role: %w", m.kind, err)
	}
	m.openSecrets(ctx, st)
	// The previous active node may have copied newer carried keys.
	m.carried.held.Store(nil)
	m.stopSecondary()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopPrimaryLocked()
	m.st = st
	switch st.Mode {
	case ModePrimary:
		if err := m.startPrimaryLocked(st); err != nil {
			return fmt.Errorf("resume %s primary: %w", m.kind, err)
		}
		if m.kind == KindDR {
			// A promotion whose first write the previous active node did
			// not see yet is still waiting for it.
			m.resumeFailoverWatch(ctx)
		}
	case ModeSecondary:
		if st.hasPrimary() {
			m.startSecondaryLocked(st)
		}
	}
	m.suspended.Store(false)
	return nil
}

// openSecrets opens the sealed keys of a state just read from storage when
// this node is unsealed (an HA takeover: the keys stay open on the node).
func (m *Manager) openSecrets(ctx context.Context, st *state) {
	if m.opts.Keys == nil || !m.secretsOpen.Load() || st.legacyPlain || len(st.SealedSecrets) == 0 {
		return
	}
	plain, err := m.opts.Keys.Decrypt(ctx, st.SealedSecrets, m.kind.secretsAAD())
	if err == nil {
		err = json.Unmarshal(plain, &st.drSecrets)
		clear(plain)
	}
	if err != nil {
		m.log.Warn("the replication state's keys do not open after a takeover", "error", err)
	}
}

// haClusterAddrs is the cluster address of every node of this HA cluster
// seen recently (nil without HA), sent in the stream's start frame.
func (m *Manager) haClusterAddrs(ctx context.Context) []string {
	if !m.store.HAEnabled() {
		return nil
	}
	nodes, err := m.store.HANodes(ctx, haNodeWindow)
	if err != nil {
		m.log.Debug("cannot list HA nodes for the secondary", "error", err)
		return nil
	}
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, n.ClusterAddr)
	}
	return out
}

// haNodeWindow: a node not seen for this long is not offered to secondaries.
const haNodeWindow = time.Minute

// learnPrimaryAddrs records an HA primary's node addresses as
// known_primary_cluster_addrs (in the stored state and in st, the
// syncer's copy), when they changed.
func (m *Manager) learnPrimaryAddrs(ctx context.Context, st *state, addrs []string) {
	if len(addrs) == 0 || slices.Equal(addrs, st.KnownPrimaryClusterAddrs) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.Mode != ModeSecondary {
		return
	}
	next := m.st.clone()
	next.KnownPrimaryClusterAddrs = slices.Clone(addrs)
	op, err := m.stateOp(ctx, next)
	if err == nil {
		_, err = m.store.Write(ctx, op)
	}
	if err != nil {
		m.log.Warn("could not record the primary's cluster addresses", "error", err)
		return
	}
	m.st = next
	st.KnownPrimaryClusterAddrs = slices.Clone(addrs)
}

// nextPrimaryBase picks the address of the next attempt: the activation's
// primary_cluster_addr and every known primary node, in turn.
func (m *Manager) nextPrimaryBase(current string, st *state, attempt int) string {
	candidates := []string{st.PrimaryClusterAddr}
	for _, a := range st.KnownPrimaryClusterAddrs {
		if !slices.Contains(candidates, a) {
			candidates = append(candidates, a)
		}
	}
	addr, err := dialAddress(candidates[attempt%len(candidates)])
	if err != nil {
		return current
	}
	return "https://" + addr
}
