package replication

import (
	"context"
	"time"
)

// retentionLoop trims the WAL by count and age. It keeps what connected
// secondaries still need, unless one is so far behind (4× the count) that a
// merkle sync is the better way for it to catch up.
func (m *Manager) retentionLoop() {
	defer m.background.Done()
	// Often enough that a burst cannot outgrow the bound by much.
	t := time.NewTicker(min(10*time.Second, 5*m.opts.HeartbeatInterval))
	defer t.Stop()
	for {
		select {
		case <-m.stopCtx.Done():
			return
		case <-t.C:
			if m.suspended.Load() {
				continue // an HA standby: the active node trims
			}
			ctx, cancel := context.WithTimeout(m.stopCtx, 30*time.Second)
			if n, upTo, err := m.trimWAL(ctx); err != nil {
				m.log.Warn("WAL retention", "error", err)
			} else if n > 0 {
				m.log.Debug("WAL trimmed", "entries", n, "up_to", upTo)
			}
			cancel()
		}
	}
}

func (m *Manager) trimWAL(ctx context.Context) (int64, uint64, error) {
	last := m.store.Position().LastWAL
	var upTo uint64
	if last > m.opts.WALRetainCount {
		upTo = last - m.opts.WALRetainCount
	}
	old, err := m.store.WALIndexBefore(ctx, m.now().Add(-m.opts.WALRetainAge))
	if err != nil {
		return 0, 0, err
	}
	upTo = max(upTo, old)
	hardLimit := uint64(0)
	if last > 4*m.opts.WALRetainCount {
		hardLimit = last - 4*m.opts.WALRetainCount
	}
	lags := m.secondaryLags(last)
	if peer := m.perfPeer.Load(); peer != nil {
		lags = append(lags, peer.secondaryLags(last)...)
	}
	for _, lag := range lags {
		// The secondary resumes after the entry it applied last, and that
		// entry must still be here to prove it is in this history.
		applied := last - lag.Entries
		if applied > 0 && applied-1 < upTo && applied >= hardLimit {
			upTo = applied - 1
		}
	}
	if upTo == 0 {
		return 0, 0, nil
	}
	n, err := m.store.TrimWAL(ctx, upTo)
	return n, upTo, err
}
