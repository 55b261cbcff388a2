package replication

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Metrics counts what replication does, for sys/metrics.
type Metrics struct {
	reconnects     atomic.Uint64
	merkleSyncs    atomic.Uint64
	bucketsSynced  atomic.Uint64
	walEntriesSent atomic.Uint64

	mu           sync.Mutex
	applyBatches uint64
	applyEntries uint64
	applyLagSum  float64 // seconds from the primary's commit to the apply here
	applyLagMax  float64
}

func newMetrics() *Metrics { return &Metrics{} }

// observeApply records one applied WAL batch.
func (x *Metrics) observeApply(entries []storage.WALEntry, now time.Time) {
	if len(entries) == 0 {
		return
	}
	lag := now.Sub(time.Unix(0, entries[len(entries)-1].CreatedAt)).Seconds()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.applyBatches++
	x.applyEntries += uint64(len(entries))
	x.applyLagSum += lag
	x.applyLagMax = max(x.applyLagMax, lag)
}

// SecondaryLag is one secondary's distance behind the primary.
type SecondaryLag struct {
	ID      string
	Entries uint64
	Seconds float64
}

// WritePrometheus writes the replication metrics in Prometheus text format.
func (m *Manager) WritePrometheus(w io.Writer) {
	x := m.metrics
	pos := m.store.Position()
	p := func(name, help, kind string, value any, labels string) {
		_, _ = fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s%s %v\n", name, help, name, kind, name, labels, value)
	}
	p("vaultrepl_wal_index", "Newest WAL index of this cluster.", "gauge", pos.LastWAL, "")
	p("vaultrepl_replication_reconnects_total", "Times a secondary's stream to its primary was lost and retried.", "counter", x.reconnects.Load(), "")
	p("vaultrepl_replication_merkle_syncs_total", "Merkle syncs completed by this secondary.", "counter", x.merkleSyncs.Load(), "")
	p("vaultrepl_replication_buckets_synced_total", "Merkle buckets copied from the primary.", "counter", x.bucketsSynced.Load(), "")
	p("vaultrepl_replication_wal_entries_sent_total", "WAL entries this primary streamed to secondaries.", "counter", x.walEntriesSent.Load(), "")
	x.mu.Lock()
	batches, entries, lagSum, lagMax := x.applyBatches, x.applyEntries, x.applyLagSum, x.applyLagMax
	x.mu.Unlock()
	_, _ = fmt.Fprintf(w, "# HELP vaultrepl_replication_apply_batch_entries Entries per applied WAL batch on this secondary.\n# TYPE vaultrepl_replication_apply_batch_entries summary\nvaultrepl_replication_apply_batch_entries_sum %d\nvaultrepl_replication_apply_batch_entries_count %d\n", entries, batches)
	_, _ = fmt.Fprintf(w, "# HELP vaultrepl_replication_apply_lag_seconds Time from the primary's commit to the apply on this secondary.\n# TYPE vaultrepl_replication_apply_lag_seconds summary\nvaultrepl_replication_apply_lag_seconds_sum %g\nvaultrepl_replication_apply_lag_seconds_count %d\n", lagSum, batches)
	p("vaultrepl_replication_apply_lag_seconds_max", "Largest apply lag seen.", "gauge", lagMax, "")
	lags := m.secondaryLags(pos.LastWAL)
	if len(lags) > 0 {
		_, _ = fmt.Fprint(w, "# HELP vaultrepl_replication_secondary_lag_entries WAL entries a secondary is behind this primary.\n# TYPE vaultrepl_replication_secondary_lag_entries gauge\n")
		for _, l := range lags {
			_, _ = fmt.Fprintf(w, "vaultrepl_replication_secondary_lag_entries{secondary_id=%q} %d\n", l.ID, l.Entries)
		}
		_, _ = fmt.Fprint(w, "# HELP vaultrepl_replication_secondary_lag_seconds Seconds since a secondary last reported being caught up.\n# TYPE vaultrepl_replication_secondary_lag_seconds gauge\n")
		for _, l := range lags {
			_, _ = fmt.Fprintf(w, "vaultrepl_replication_secondary_lag_seconds{secondary_id=%q} %g\n", l.ID, l.Seconds)
		}
	}
}

func (m *Manager) secondaryLags(last uint64) []SecondaryLag {
	m.mu.Lock()
	rt := m.primary
	m.mu.Unlock()
	if rt == nil {
		return nil
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []SecondaryLag
	for id, ls := range rt.live {
		l := SecondaryLag{ID: id}
		if last > ls.applied {
			l.Entries = last - ls.applied
			l.Seconds = time.Since(ls.appliedAt).Seconds()
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
