package replication

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/apierr"
)

// What the control endpoints of both roles share (answers, secondary ids,
// wrong-mode messages) and the maintenance endpoints (reindex, recover).
// The roles' own endpoints are in primary_control.go and
// secondary_control.go; activation tokens in wrapping.go, public_key.go
// and activation.go.

// Result is what a control endpoint answers.
type Result struct {
	Data     map[string]any
	WrapInfo map[string]any
	Warnings []string
}

// DefaultTokenTTL is how long an activation token lives unless told.
const DefaultTokenTTL = 30 * time.Minute

var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

func (m *Manager) wrongMode(st *state, want string) error {
	switch {
	case want == ModePrimary && st.Mode == ModeSecondary:
		return apierr.Invalid("%s", m.say("this cluster is a DR secondary, not a primary: promote it with sys/replication/dr/secondary/promote first"))
	case want == ModePrimary:
		return apierr.Invalid("%s", m.say("DR replication is not enabled as a primary on this cluster: enable it with sys/replication/dr/primary/enable first"))
	case want == ModeSecondary && st.Mode == ModePrimary:
		return apierr.Invalid("%s", m.say("this cluster is a DR primary, not a secondary: this endpoint only applies to DR secondaries"))
	default:
		return apierr.Invalid("%s", m.say("this cluster is not a DR secondary: enable it with sys/replication/dr/secondary/enable first"))
	}
}

// Reindex rebuilds the merkle index from the stored data.
func (m *Manager) Reindex(ctx context.Context) (*Result, error) {
	m.transition.Lock()
	defer m.transition.Unlock()
	fixed, err := m.store.Reindex(ctx)
	if err != nil {
		return nil, err
	}
	next := m.snapshot()
	next.LastReindexEpoch = m.now().Unix()
	if err := m.commit(ctx, next); err != nil {
		return nil, err
	}
	m.log.Info("merkle index rebuilt", "buckets_fixed", fixed)
	return &Result{Warnings: []string{fmt.Sprintf("Reindex complete: %d merkle buckets were rebuilt.", fixed)}}, nil
}

// Recover restarts a secondary's stream to its primary.
func (m *Manager) Recover(_ context.Context) (*Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secondary == nil {
		return &Result{Warnings: []string{m.say("Nothing to recover: this cluster is not a DR secondary following a primary.")}}, nil
	}
	m.secondary.restart()
	m.log.Info("replication stream restart requested")
	return &Result{Warnings: []string{m.say("The replication stream is being restarted; watch sys/replication/dr/status.")}}, nil
}
