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
	bytesSent      atomic.Uint64 // stream and fetch bytes written to secondaries
	bytesReceived  atomic.Uint64 // stream and fetch bytes read from the primary
	stalls         atomic.Uint64 // streams cut because nothing arrived for the idle limit

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
	p("vaultrepl_replication_stream_bytes_sent_total", "Bytes this primary wrote to secondaries (streams and merkle-sync answers).", "counter", x.bytesSent.Load(), "")
	p("vaultrepl_replication_stream_bytes_received_total", "Bytes this secondary read from its primary (streams and merkle-sync answers).", "counter", x.bytesReceived.Load(), "")
	p("vaultrepl_replication_stream_stalls_total", "Streams this secondary cut because they delivered no byte for the idle limit.", "counter", x.stalls.Load(), "")
	m.writeSecondaryGauges(w, pos.LastWAL)
	m.writeFailoverMetrics(w)
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

// writeSecondaryGauges writes, on a secondary that follows a primary, how
// far behind it is and whether its stream moves.
func (m *Manager) writeSecondaryGauges(w io.Writer, applied uint64) {
	m.mu.Lock()
	rt := m.secondary
	m.mu.Unlock()
	if rt == nil {
		return
	}
	now := time.Now()
	entries, behind := rt.lag(applied, now)
	idle := rt.stalledFor(now)
	stalled := 0
	if idle > m.stallAfter() {
		stalled = 1
	}
	p := func(name, help string, value any) {
		_, _ = fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %v\n", name, help, name, name, value)
	}
	p("vaultrepl_replication_lag_entries", "WAL entries this secondary is behind its primary, as of the primary's last word.", entries)
	p("vaultrepl_replication_lag_seconds", "Seconds since this secondary last held everything its primary had (0 while caught up).", behind.Seconds())
	p("vaultrepl_replication_stream_idle_seconds", "Seconds since this secondary's stream last delivered a byte (0 without a stream).", idle.Seconds())
	p("vaultrepl_replication_stream_stalled", "1 while this secondary's stream is open but has delivered nothing for longer than two heartbeats.", stalled)
}
