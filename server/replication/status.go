package replication

import (
	"context"
	"strconv"
	"time"
)

// Status is the flat DR status of API.md §4: every field is derived from
// the stored state, the storage position and real heartbeats.
func (m *Manager) Status() map[string]any {
	m.mu.Lock()
	st := m.st.clone()
	prt, srt := m.primary, m.secondary
	m.mu.Unlock()
	pos := m.store.Position()
	out := map[string]any{"mode": st.Mode}
	if st.Mode == ModeDisabled {
		return out
	}
	out["cluster_id"] = st.ClusterID
	out["merkle_root"] = pos.MerkleRoot
	out["last_reindex_epoch"] = strconv.FormatInt(st.LastReindexEpoch, 10)
	out["primary_cluster_addr"] = st.PrimaryClusterAddr
	if m.kind == KindDR {
		// The local keys the DR stream carries besides the WAL (an
		// extension, carried.go): a primary's digest of its own, a
		// secondary's of the copy it holds ("" before the first).
		if st.Mode == ModePrimary {
			out["carried_keys_digest"] = m.carriedDigestNow(context.Background(), true)
		} else {
			out["carried_keys_digest"] = m.heldCarriedDigest(context.Background())
		}
	}
	switch st.Mode {
	case ModePrimary:
		out["state"] = "running"
		if m.dormant() {
			// The stored role waits while this cluster is a DR
			// secondary (following.go): it serves nobody.
			out["state"] = stateIdle
		}
		out["last_wal"] = pos.LastWAL
		out["last_"+string(m.kind)+"_wal"] = pos.LastWAL
		out["known_secondaries"] = st.knownSecondaries()
		out["secondaries"] = m.secondaryInfo(st, prt)
	case ModeSecondary:
		if !st.Bootstrapped {
			out["mode"] = ModeBootstrapping
		}
		out["last_remote_wal"] = pos.LastWAL
		out["secondary_id"] = st.SecondaryID
		out["known_primary_cluster_addrs"] = nonNil(st.KnownPrimaryClusterAddrs)
		state, conn := stateIdle, "idle"
		primaries := []map[string]any{}
		if srt != nil {
			now := time.Now()
			_, lagTime := srt.lag(pos.LastWAL, now)
			stalled := srt.stalledFor(now) > m.stallAfter()
			srt.mu.Lock()
			state, conn = srt.state, srt.connState
			connected := srt.connected
			if stalled {
				// The stream is open but has delivered nothing for longer
				// than the primary's heartbeats allow: not ready, whatever
				// the state it was in.
				conn, connected = "transient_failure", false
			}
			info := map[string]any{
				"api_address":       st.PrimaryAPIAddr,
				"cluster_address":   st.PrimaryClusterAddr,
				"connection_status": connectionStatus(connected),
				// Time since this secondary last held everything the
				// primary had (0 while caught up).
				"replication_primary_canary_age_ms": strconv.FormatInt(lagTime.Milliseconds(), 10),
			}
			if !srt.lastHB.IsZero() {
				info["last_heartbeat"] = srt.lastHB.UTC().Format(time.RFC3339)
				info["last_heartbeat_duration_ms"] = strconv.FormatInt(srt.rtt.Milliseconds(), 10)
				info["clock_skew_ms"] = strconv.FormatInt(srt.skew.Milliseconds(), 10)
			}
			srt.mu.Unlock()
			primaries = append(primaries, info)
		}
		out["state"] = state
		out["connection_state"] = conn
		out["primaries"] = primaries
	}
	return out
}

func connectionStatus(connected bool) string {
	if connected {
		return "connected"
	}
	return "disconnected"
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// secondaryInfo lists every known secondary with what its heartbeats said.
// A secondary is connected while it holds a stream and its last heartbeat
// is recent.
func (m *Manager) secondaryInfo(st *state, rt *primaryRuntime) []map[string]any {
	out := []map[string]any{}
	stale := 3*m.opts.HeartbeatInterval + time.Second
	for _, id := range st.knownSecondaries() {
		info := map[string]any{"node_id": id, "connection_status": "disconnected"}
		if rt != nil {
			rt.mu.Lock()
			if ls := rt.live[id]; ls != nil {
				if len(ls.streams) > 0 && time.Since(ls.lastHeartbeat) < stale {
					info["connection_status"] = "connected"
				}
				if ls.apiAddr != "" {
					info["api_address"] = ls.apiAddr
				}
				if ls.remoteAddr != "" {
					info["cluster_address"] = ls.remoteAddr
				}
				if !ls.lastHeartbeat.IsZero() {
					info["last_heartbeat"] = ls.lastHeartbeat.UTC().Format(time.RFC3339)
					info["last_heartbeat_duration_ms"] = strconv.FormatInt(ls.rtt.Milliseconds(), 10)
					info["clock_skew_ms"] = strconv.FormatInt(ls.skew.Milliseconds(), 10)
				}
			}
			rt.mu.Unlock()
		}
		out = append(out, info)
	}
	return out
}
