package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// Failover evidence (an extension of this server; Vault has no such
// record). A promotion writes what the promoted secondary knew of its lost
// primary; the first write accepted afterwards completes the recovery time;
// an old primary that merkle-syncs after re-pointing counts the writes it
// discards (the true recovery point) and reports them to its new primary.

const (
	// failoverHistoryKey holds the DR set's failover history. It is in the
	// replicated keyspace, so every cluster of the DR set (and a re-pointed
	// old primary, by its merkle sync) sees it.
	failoverHistoryKey = "core/replication/dr/failovers"
	// discardsKey holds what this cluster discarded as a re-pointed old
	// primary. It is local: a secondary cannot write replicated keys.
	discardsKey = "replication/dr/discards"
	// FailoverHistoryLimit bounds both lists: the newest records are kept.
	FailoverHistoryLimit = 20
	// maxDiscardScan bounds the WAL entries a re-pointed old primary counts.
	maxDiscardScan = 4_000_000
)

// FailoverRecord is one promotion of this DR set. Times are the clocks of
// the clusters that observed them (all loopback in tests, NTP otherwise).
type FailoverRecord struct {
	ID         string    `json:"id"`
	PromotedAt time.Time `json:"promoted_at"`
	Forced     bool      `json:"forced"`
	// PromotedClusterAddr is the cluster address of the promoted cluster.
	PromotedClusterAddr string `json:"promoted_cluster_addr"`
	// The lost primary, as the promoted secondary last knew it.
	LostPrimaryClusterAddr string `json:"lost_primary_cluster_addr,omitempty"`
	// LostPrimaryLastHeartbeat is when the secondary last heard from the
	// primary: a heartbeat, a heartbeat answer or a WAL frame.
	LostPrimaryLastHeartbeat *time.Time `json:"lost_primary_last_heartbeat,omitempty"`
	LostPrimaryLastWAL       uint64     `json:"lost_primary_last_wal"`
	LostPrimaryLastWALTime   *time.Time `json:"lost_primary_last_wal_time,omitempty"`
	// LostEpoch is the epoch of the last entry applied before promotion:
	// with AppliedWAL it names the fork point of the two histories.
	LostEpoch uint64 `json:"lost_epoch"`
	// AppliedWAL is the promoted cluster's position at promotion; the
	// commit time of that entry is the recovery point as the secondary
	// sees it (every later write of the lost primary is lost).
	AppliedWAL    uint64     `json:"applied_wal"`
	RecoveryPoint *time.Time `json:"recovery_point,omitempty"`
	// Entries known (from heartbeats) to be on the lost primary but not
	// here, and the span of their commit times: after RecoveryPoint, up to
	// LostPrimaryLastWALTime.
	UnreplicatedEntries     uint64  `json:"unreplicated_entries"`
	UnreplicatedSpanSeconds float64 `json:"unreplicated_span_seconds"`
	// The first write accepted after the promotion; recovery time is that
	// minus LostPrimaryLastHeartbeat.
	FirstWriteAt        *time.Time `json:"first_write_at,omitempty"`
	FirstWriteWAL       uint64     `json:"first_write_wal,omitempty"`
	RecoveryTimeSeconds *float64   `json:"recovery_time_seconds,omitempty"`
	// Filled in when the old primary re-points and reports what it
	// discarded (see DiscardRecord).
	Discarded *DiscardRecord `json:"discarded,omitempty"`
}

// DiscardRecord is what an old primary threw away when it merkle-synced to
// the cluster that replaced it: entries it had committed (acknowledged)
// after the fork point.
type DiscardRecord struct {
	FailoverID  string     `json:"failover_id"`
	At          time.Time  `json:"at"`
	ForkWAL     uint64     `json:"fork_wal"`
	ForkEpoch   uint64     `json:"fork_epoch"`
	Writes      uint64     `json:"writes"`
	First       *time.Time `json:"first,omitempty"`
	Last        *time.Time `json:"last,omitempty"`
	SpanSeconds float64    `json:"span_seconds"`
	// Complete is false when WAL retention had already trimmed some of
	// the discarded entries, so Writes is a lower bound.
	Complete bool `json:"complete"`
	// ReportedBy is the secondary id that reported it (set by the primary).
	ReportedBy string `json:"reported_by,omitempty"`
}

// FailoverHistory is what sys/vaultrepl/dr/failovers answers.
type FailoverHistory struct {
	Failovers []FailoverRecord `json:"failovers"` // newest first
	Discarded []DiscardRecord  `json:"discarded"` // by this cluster, newest first
	Limit     int              `json:"limit"`
}

// fork names the point where a promoted cluster's history left its lost
// primary's; sent to syncing secondaries (an extension of /dr/sync/start).
type fork struct {
	ID    string `json:"id"`
	Epoch uint64 `json:"epoch"`
	Index uint64 `json:"index"`
}

// lostPrimaryFacts is what a secondary's syncer knows of its primary. It
// has its own lock so the stream's hot path never waits on status reads.
type lostPrimaryFacts struct {
	mu          sync.Mutex
	lastContact time.Time
	lastWAL     uint64
	lastWALTime int64 // Unix ns commit time of lastWAL, 0 if unknown
}

// contact records that the primary spoke, and the newest entry it named.
func (f *lostPrimaryFacts) contact(now time.Time, last uint64, lastTime int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastContact = later(f.lastContact, now)
	if last > f.lastWAL || (last == f.lastWAL && lastTime > 0) {
		f.lastWAL = last
		f.lastWALTime = lastTime
	}
}

// touch records a byte from the primary at t.
func (f *lostPrimaryFacts) touch(t time.Time) {
	if t.UnixNano() <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastContact = later(f.lastContact, t)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (f *lostPrimaryFacts) snapshot() (time.Time, uint64, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastContact, f.lastWAL, f.lastWALTime
}

// sawFrame records a frame from the primary: WAL frames name their newest
// entry, heartbeats the primary's.
func (f *lostPrimaryFacts) sawFrame(fr *frame, now time.Time) {
	switch {
	case fr.Type == "wal" && len(fr.Entries) > 0:
		e := fr.Entries[len(fr.Entries)-1]
		f.contact(now, e.Index, e.CreatedAt)
	case fr.Type == "heartbeat" || fr.Type == "start":
		f.contact(now, fr.LastWAL, fr.LastWALTime)
	default:
		f.contact(now, 0, 0)
	}
}

// walTime is the commit time of the entry at index (nil if not retained).
func (m *Manager) walTime(ctx context.Context, index uint64) (*time.Time, error) {
	if index == 0 {
		return nil, nil
	}
	got, err := m.store.WALSince(ctx, index-1, 1)
	if err != nil {
		return nil, err
	}
	if len(got) == 0 || got[0].Index != index {
		return nil, nil
	}
	t := time.Unix(0, got[0].CreatedAt).UTC()
	return &t, nil
}

// lastWALTime is the commit time of this cluster's newest entry, Unix ns
// (0 if unknown), for heartbeats.
func (m *Manager) lastWALTime(ctx context.Context, index uint64) int64 {
	t, err := m.walTime(ctx, index)
	if err != nil || t == nil {
		return 0
	}
	return t.UnixNano()
}

// stopAndObserve stops the syncer and returns what it knew of the primary
// at that moment: nothing moves afterwards, so the record is exact.
func (m *Manager) stopAndObserve(cur *state) *FailoverRecord {
	m.mu.Lock()
	rt := m.secondary
	m.mu.Unlock()
	m.stopSecondary()
	pos := m.store.Position()
	rec := &FailoverRecord{LostPrimaryClusterAddr: cur.PrimaryClusterAddr, AppliedWAL: pos.LastWAL, LostEpoch: pos.LastEpoch}
	if rt != nil {
		contact, last, lastTime := rt.facts.snapshot()
		if !contact.IsZero() {
			c := contact.UTC()
			rec.LostPrimaryLastHeartbeat = &c
		}
		rec.LostPrimaryLastWAL = max(last, pos.LastWAL)
		if lastTime > 0 && last == rec.LostPrimaryLastWAL {
			t := time.Unix(0, lastTime).UTC()
			rec.LostPrimaryLastWALTime = &t
		}
	}
	return rec
}

// recordPromotion completes rec after a successful promotion, stores it in
// the history and starts waiting for the first write.
func (m *Manager) recordPromotion(ctx context.Context, rec *FailoverRecord, addr string, force bool) {
	if err := m.fillPromotion(ctx, rec, addr, force); err != nil {
		m.log.Warn("could not record the failover", "error", err)
		return
	}
	if err := m.updateHistory(ctx, func(h []FailoverRecord) []FailoverRecord {
		return append([]FailoverRecord{*rec}, h...)
	}); err != nil {
		m.log.Warn("could not record the failover", "error", err)
		return
	}
	m.watchFirstWrite(rec.ID, rec.AppliedWAL)
	m.log.Info("failover recorded", "id", rec.ID, "applied_wal", rec.AppliedWAL, "lost_primary_last_wal", rec.LostPrimaryLastWAL, "unreplicated_entries", rec.UnreplicatedEntries)
}

func (m *Manager) fillPromotion(ctx context.Context, rec *FailoverRecord, addr string, force bool) error {
	id, err := newUUID()
	if err != nil {
		return err
	}
	rec.ID, rec.PromotedAt, rec.Forced, rec.PromotedClusterAddr = id, m.now().UTC(), force, addr
	if rec.RecoveryPoint, err = m.walTime(ctx, rec.AppliedWAL); err != nil {
		return err
	}
	if rec.RecoveryPoint == nil && rec.LostPrimaryLastWAL == rec.AppliedWAL {
		// A merkle sync drops the local WAL: the primary's heartbeats
		// still told the commit time of the entry this cluster stands at.
		rec.RecoveryPoint = rec.LostPrimaryLastWALTime
	}
	if rec.LostPrimaryLastWAL > rec.AppliedWAL {
		rec.UnreplicatedEntries = rec.LostPrimaryLastWAL - rec.AppliedWAL
		if rec.RecoveryPoint != nil && rec.LostPrimaryLastWALTime != nil {
			rec.UnreplicatedSpanSeconds = max(0, rec.LostPrimaryLastWALTime.Sub(*rec.RecoveryPoint).Seconds())
		}
	}
	return nil
}

// loadHistory reads the DR set's failover history, newest first.
func (m *Manager) loadHistory(ctx context.Context) ([]FailoverRecord, error) {
	raw, err := m.store.Get(ctx, failoverHistoryKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read failover history: %w", err)
	}
	var h []FailoverRecord
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("decode failover history: %w", err)
	}
	return h, nil
}

// updateHistory changes the history with fn and stores the newest
// FailoverHistoryLimit records (a replicated write: primaries only).
func (m *Manager) updateHistory(ctx context.Context, fn func([]FailoverRecord) []FailoverRecord) error {
	m.historyMu.Lock()
	defer m.historyMu.Unlock()
	h, err := m.loadHistory(ctx)
	if err != nil {
		return err
	}
	h = fn(h)
	if len(h) > FailoverHistoryLimit {
		h = h[:FailoverHistoryLimit]
	}
	raw, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encode failover history: %w", err)
	}
	if _, err := m.store.Write(ctx, storage.Op{Key: failoverHistoryKey, Value: raw}); err != nil {
		return fmt.Errorf("save failover history: %w", err)
	}
	return nil
}

// resumeFailoverWatch restarts the first-write watch after a restart of a
// promoted cluster that has not taken a write yet.
func (m *Manager) resumeFailoverWatch(ctx context.Context) {
	h, err := m.loadHistory(ctx)
	if err != nil || len(h) == 0 || h[0].FirstWriteAt != nil {
		return
	}
	m.watchFirstWrite(h[0].ID, h[0].AppliedWAL)
}

// watchFirstWrite waits (until the manager stops) for the first write
// after index, skipping the history's own updates, and records its commit
// time as the failover's first write.
func (m *Manager) watchFirstWrite(id string, after uint64) {
	m.background.Add(1)
	go func() {
		defer m.background.Done()
		first, err := m.nextClientWrite(after)
		if err != nil || first == nil || m.Mode() != ModePrimary {
			if err != nil && m.stopCtx.Err() == nil {
				m.log.Warn("could not read the first write after the promotion", "error", err)
			}
			return
		}
		ctx, cancel := context.WithTimeout(m.stopCtx, 30*time.Second)
		defer cancel()
		at := time.Unix(0, first.CreatedAt).UTC()
		err = m.updateHistory(ctx, func(h []FailoverRecord) []FailoverRecord {
			for i := range h {
				if h[i].ID == id && h[i].FirstWriteAt == nil {
					h[i].FirstWriteAt, h[i].FirstWriteWAL = &at, first.Index
					if hb := h[i].LostPrimaryLastHeartbeat; hb != nil {
						rto := at.Sub(*hb).Seconds()
						h[i].RecoveryTimeSeconds = &rto
					}
				}
			}
			return h
		})
		if err != nil {
			m.log.Warn("could not record the first write after the promotion", "error", err)
		}
	}()
}

// nextClientWrite waits for the first WAL entry after index that is not
// the failover history itself; nil when the manager stops first.
func (m *Manager) nextClientWrite(after uint64) (*storage.WALEntry, error) {
	for {
		changed := m.store.Notify()
		got, err := m.store.WALSince(m.stopCtx, after, 64)
		if err != nil {
			return nil, errors.Join(err, m.stopCtx.Err())
		}
		for _, e := range got {
			if e.Key != failoverHistoryKey {
				return &e, nil
			}
			after = e.Index
		}
		if len(got) > 0 {
			continue
		}
		select {
		case <-m.stopCtx.Done():
			return nil, nil
		case <-changed:
		}
	}
}

// forks lists the fork points of this primary's history, for syncing
// secondaries: a re-pointed old primary finds its own among them.
func (m *Manager) forks(ctx context.Context) []fork {
	h, err := m.loadHistory(ctx)
	if err != nil {
		m.log.Warn("failover history unreadable; a re-pointed old primary will not count its discarded writes", "error", err)
		return nil
	}
	out := make([]fork, 0, len(h))
	for _, r := range h {
		out = append(out, fork{ID: r.ID, Epoch: r.LostEpoch, Index: r.AppliedWAL})
	}
	return out
}

// countDiscards is run by a secondary about to merkle-sync: if its newest
// entry is in a history that one of the primary's failovers forked from,
// the entries after the fork point are about to be discarded. It reads the
// local WAL, so it must run before the sync resets it.
func (m *Manager) countDiscards(ctx context.Context, forks []fork) (*DiscardRecord, error) {
	pos := m.store.Position()
	for _, f := range forks {
		if f.Index >= pos.LastWAL {
			continue
		}
		// The fork point must be in this cluster's history: its own entry
		// at that index has the fork's epoch (later entries may be of a
		// newer epoch, e.g. after primary/enable). Without that entry
		// (trimmed), the newest entry's epoch decides.
		epoch, held, err := m.store.WALEpochAt(ctx, f.Index)
		if err != nil {
			return nil, err
		}
		if (held && epoch != f.Epoch) || (!held && pos.LastEpoch != f.Epoch) {
			continue
		}
		d := &DiscardRecord{FailoverID: f.ID, At: m.now().UTC(), ForkWAL: f.Index, ForkEpoch: f.Epoch, Complete: true}
		if oldest, err := m.store.OldestWAL(ctx); err != nil {
			return nil, err
		} else if oldest == 0 || oldest > f.Index+1 {
			d.Complete = false
		}
		after := f.Index
		for d.Writes < maxDiscardScan {
			got, err := m.store.WALSinceBytes(ctx, after, 4096, maxApplyBytes)
			if err != nil {
				return nil, err
			}
			if len(got) == 0 {
				break
			}
			for _, e := range got {
				t := time.Unix(0, e.CreatedAt).UTC()
				if d.First == nil {
					d.First = &t
				}
				d.Last = &t
				d.Writes++
			}
			after = got[len(got)-1].Index
		}
		if d.First != nil {
			d.SpanSeconds = d.Last.Sub(*d.First).Seconds()
		}
		return d, nil
	}
	return nil, nil
}

// recordDiscards stores d in the local list (newest first, bounded).
func (m *Manager) recordDiscards(ctx context.Context, d *DiscardRecord) error {
	list, err := m.loadDiscards(ctx)
	if err != nil {
		return err
	}
	list = append([]DiscardRecord{*d}, list...)
	if len(list) > FailoverHistoryLimit {
		list = list[:FailoverHistoryLimit]
	}
	raw, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("encode discarded writes: %w", err)
	}
	if _, err := m.store.Write(ctx, storage.Op{Local: true, Key: discardsKey, Value: raw}); err != nil {
		return fmt.Errorf("save discarded writes: %w", err)
	}
	return nil
}

func (m *Manager) loadDiscards(ctx context.Context) ([]DiscardRecord, error) {
	raw, err := m.store.LocalGet(ctx, discardsKey)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read discarded writes: %w", err)
	}
	var list []DiscardRecord
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("decode discarded writes: %w", err)
	}
	return list, nil
}

// mergeDiscards is the primary's side of a heartbeat that carries an old
// primary's discard records. Other secondaries of the lost primary may
// report too; the largest count is kept: the old primary held everything
// they held, so its count is the true recovery point.
func (m *Manager) mergeDiscards(ctx context.Context, secondaryID string, reported []DiscardRecord) {
	if len(reported) == 0 {
		return
	}
	reported = reported[:min(len(reported), FailoverHistoryLimit)]
	h, err := m.loadHistory(ctx)
	if err != nil {
		return
	}
	better := func(r FailoverRecord, d DiscardRecord) bool {
		return r.ID == d.FailoverID && (r.Discarded == nil || d.Writes > r.Discarded.Writes)
	}
	news := false
	for _, d := range reported {
		for _, r := range h {
			news = news || better(r, d)
		}
	}
	if !news {
		return
	}
	err = m.updateHistory(ctx, func(h []FailoverRecord) []FailoverRecord {
		for _, d := range reported {
			for i := range h {
				if better(h[i], d) {
					d.ReportedBy = secondaryID
					h[i].Discarded = &d
				}
			}
		}
		return h
	})
	if err != nil {
		m.log.Warn("could not record an old primary's discarded writes", "error", err)
	}
}

// History is the failover history of this DR set and what this cluster
// discarded as a re-pointed old primary.
func (m *Manager) History(ctx context.Context) (*FailoverHistory, error) {
	h, err := m.loadHistory(ctx)
	if err != nil {
		return nil, err
	}
	d, err := m.loadDiscards(ctx)
	if err != nil {
		return nil, err
	}
	if h == nil {
		h = []FailoverRecord{}
	}
	if d == nil {
		d = []DiscardRecord{}
	}
	return &FailoverHistory{Failovers: h, Discarded: d, Limit: FailoverHistoryLimit}, nil
}
