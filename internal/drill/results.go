package main

import (
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/client"
)

// results is what the drill measured and what the servers recorded; it is
// written as results.json and rendered in the report.
type results struct {
	FailoverID string `json:"failover_id"`
	// RTO as the server recorded it (first write − lost primary's last
	// heartbeat), as the provider exported it, and as the drill measured
	// it (first acknowledgement from the new primary − the moment it cut
	// the link, the last moment the secondary could hear the primary).
	RTOSeconds         float64  `json:"rto_seconds"`
	RTOProviderSeconds *float64 `json:"rto_provider_seconds"`
	RTOMeasuredSeconds float64  `json:"rto_measured_seconds"`
	// RPO: entries the secondary knew it lacked at promotion, the time
	// from the recovery point to the last discarded write, and the writes
	// the old primary discarded when re-pointed.
	RPOEntries      uint64  `json:"rpo_entries"`
	RPOSeconds      float64 `json:"rpo_seconds"`
	DiscardedWrites uint64  `json:"discarded_writes"`
	// LostWrites is the drill's own count: keys the old primary held that
	// the new one never got.
	LostWrites        int     `json:"lost_writes"`
	WritesAcked       int     `json:"writes_acked"`
	WritesChecked     int     `json:"writes_checked"`
	Missing           int     `json:"missing"`
	MissingOutsideRPO int     `json:"missing_outside_rpo"`
	DurationSeconds   float64 `json:"duration_seconds"`

	Events  events   `json:"events"` // seconds since the drill started
	Samples []sample `json:"samples"`
}

type events struct {
	LinkCut       float64  `json:"link_cut"`
	Kill          float64  `json:"kill"`
	LastHeartbeat *float64 `json:"last_heartbeat"`
	RecoveryPoint *float64 `json:"recovery_point"`
	Promoted      float64  `json:"promoted"`
	FirstWrite    *float64 `json:"first_write"`
}

// evidence is everything run collected, for evaluate.
type evidence struct {
	start, cutAt, killAt time.Time
	record               client.FailoverRecord
	discard              *client.DiscardRecord
	ledger               []ack
	keysA, keysB         map[string]bool
	samples              []sample
	outputs              map[string]any
}

// evaluate checks the ledger against the clusters and derives the numbers.
func evaluate(e evidence) *results {
	r := &results{FailoverID: e.record.ID, Samples: e.samples, WritesAcked: len(e.ledger)}
	since := func(t time.Time) float64 { return t.Sub(e.start).Seconds() }
	opt := func(t *time.Time) *float64 {
		if t == nil {
			return nil
		}
		v := since(*t)
		return &v
	}
	r.Events = events{LinkCut: since(e.cutAt), Kill: since(e.killAt), LastHeartbeat: opt(e.record.LostPrimaryLastHeartbeat),
		RecoveryPoint: opt(e.record.RecoveryPoint), Promoted: since(e.record.PromotedAt), FirstWrite: opt(e.record.FirstWriteAt)}
	if e.record.RecoveryTimeSeconds != nil {
		r.RTOSeconds = *e.record.RecoveryTimeSeconds
	}
	if v, ok := e.outputs["recovery_time_seconds"].(float64); ok {
		r.RTOProviderSeconds = &v
	}
	r.RPOEntries = e.record.UnreplicatedEntries
	if d := e.discard; d != nil {
		r.DiscardedWrites = d.Writes
		if d.Last != nil && e.record.RecoveryPoint != nil {
			r.RPOSeconds = max(0, d.Last.Sub(*e.record.RecoveryPoint).Seconds())
		}
	}
	for k := range e.keysA {
		if !e.keysB[k] {
			r.LostWrites++
		}
	}
	var firstAckB time.Time
	for _, a := range e.ledger {
		r.WritesChecked++
		if a.Target == "B" && (firstAckB.IsZero() || a.Acked.Before(firstAckB)) {
			firstAckB = a.Acked
		}
		if e.keysB[a.Key] {
			continue
		}
		r.Missing++
		// Missing is allowed only for a write the old primary acknowledged
		// after the recovery point and that it held (so discarded).
		inRPO := a.Target == "A" && e.keysA[a.Key] && e.record.RecoveryPoint != nil && !a.Acked.Before(*e.record.RecoveryPoint)
		if !inRPO {
			r.MissingOutsideRPO++
		}
	}
	if !firstAckB.IsZero() {
		r.RTOMeasuredSeconds = firstAckB.Sub(e.cutAt).Seconds()
	}
	return r
}
