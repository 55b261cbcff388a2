package replication

import (
	"context"
	"fmt"
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
	st, err := loadState(ctx, m.store)
	if err != nil {
		return fmt.Errorf("resume DR role: %w", err)
	}
	m.stopSecondary()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stopPrimaryLocked()
	m.st = st
	switch st.Mode {
	case ModePrimary:
		if err := m.startPrimaryLocked(st); err != nil {
			return fmt.Errorf("resume DR primary: %w", err)
		}
	case ModeSecondary:
		if st.hasPrimary() {
			m.startSecondaryLocked(st)
		}
	}
	m.suspended.Store(false)
	return nil
}
