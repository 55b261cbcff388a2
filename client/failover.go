package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// FailoverHistoryPath is the server's failover evidence endpoint, an
// extension of this server outside Vault's paths.
const FailoverHistoryPath = "sys/vaultrepl/dr/failovers"

// FailoverRecord is one promotion of a DR set, as the promoted cluster
// recorded it. Optional times are nil until known.
type FailoverRecord struct {
	ID                       string         `json:"id"`
	PromotedAt               time.Time      `json:"promoted_at"`
	Forced                   bool           `json:"forced"`
	PromotedClusterAddr      string         `json:"promoted_cluster_addr"`
	LostPrimaryClusterAddr   string         `json:"lost_primary_cluster_addr"`
	LostPrimaryLastHeartbeat *time.Time     `json:"lost_primary_last_heartbeat"`
	LostPrimaryLastWAL       uint64         `json:"lost_primary_last_wal"`
	LostPrimaryLastWALTime   *time.Time     `json:"lost_primary_last_wal_time"`
	AppliedWAL               uint64         `json:"applied_wal"`
	RecoveryPoint            *time.Time     `json:"recovery_point"`
	UnreplicatedEntries      uint64         `json:"unreplicated_entries"`
	UnreplicatedSpanSeconds  float64        `json:"unreplicated_span_seconds"`
	FirstWriteAt             *time.Time     `json:"first_write_at"`
	FirstWriteWAL            uint64         `json:"first_write_wal"`
	RecoveryTimeSeconds      *float64       `json:"recovery_time_seconds"`
	Discarded                *DiscardRecord `json:"discarded"`
}

// DiscardRecord is what an old primary discarded when it re-pointed to the
// cluster that replaced it: the true recovery point.
type DiscardRecord struct {
	FailoverID  string     `json:"failover_id"`
	At          time.Time  `json:"at"`
	ForkWAL     uint64     `json:"fork_wal"`
	Writes      uint64     `json:"writes"`
	First       *time.Time `json:"first"`
	Last        *time.Time `json:"last"`
	SpanSeconds float64    `json:"span_seconds"`
	Complete    bool       `json:"complete"`
	ReportedBy  string     `json:"reported_by"`
}

// FailoverHistory is a DR set's failover history (newest first) and what
// the asked cluster discarded as a re-pointed old primary.
type FailoverHistory struct {
	Failovers []FailoverRecord `json:"failovers"`
	Discarded []DiscardRecord  `json:"discarded"`
	Limit     int              `json:"limit"`
}

// Find returns the record with id, or nil.
func (h *FailoverHistory) Find(id string) *FailoverRecord {
	for i := range h.Failovers {
		if h.Failovers[i].ID == id {
			return &h.Failovers[i]
		}
	}
	return nil
}

// FailoverHistory reads GET sys/vaultrepl/dr/failovers (token needed).
func (c *Client) FailoverHistory(ctx context.Context) (*FailoverHistory, error) {
	env, err := c.logical(ctx, request{method: http.MethodGet, path: FailoverHistoryPath, retry: retryIdempotent})
	if err != nil {
		return nil, err
	}
	var h FailoverHistory
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil, fmt.Errorf("GET %s: the answer has no data", FailoverHistoryPath)
	}
	if err := json.Unmarshal(env.Data, &h); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", FailoverHistoryPath, err)
	}
	return &h, nil
}
