package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The merkle table is written once in a while, not by every commit.
//
// A plain write changes one bucket hash, which lives in memory
// (merkleIndex); writing it to the merkle table with every commit cost a
// random page of that table per write (a fifth of the pages a commit
// dirtied on SQLite, one statement per write on both engines). Instead the
// table is written with a commit every merkleSaveInterval (at most
// NumBuckets upserts, however many writes changed them), by every bulk change (wipe, merkle
// sync, WAL trim, ...: they change keys without, or beside, WAL entries),
// and at Close. The meta row merkle_wal says which WAL index the stored
// table is current to, written in the same transaction as the buckets.
//
// What a crash leaves behind is recomputed at the next open (and by an HA
// node taking over): every key changed after merkle_wal has a WAL entry
// after it (trims write the table first), so the buckets of those entries'
// keys are recomputed from the data itself. Durability of the data is
// untouched: the table is an index of the keyspace, not part of it.
const (
	merkleSaveInterval = time.Second
	// maxCatchUpEntries bounds the WAL read after a crash; beyond it (or
	// with entries missing) every bucket is recomputed from the data.
	maxCatchUpEntries = 100000
	catchUpPage       = 1000
)

// merkleSaved is what the stored merkle table holds. Only the commit loop
// (and load, before it starts or inside it) touches it.
type merkleSaved struct {
	// known: the meta row merkle_wal exists. A database written by an
	// older version has none, and its table is current (those versions
	// wrote it with every commit); the first commit then writes it.
	known bool
	upTo  uint64           // WAL index the stored table is current to
	dirty map[int]struct{} // buckets whose stored hash is older than memory's
	at    time.Time        // when the table was last written
	every time.Duration    // merkleSaveInterval; tests lengthen it
}

// saveMerkle writes the merkle buckets changed since the table was last
// written, and merkle_wal, when it is their turn.
func (w *batchWriter) saveMerkle(ctx context.Context) error {
	sv := w.saved
	due := w.bulk || w.reset || !sv.known || time.Since(sv.at) >= sv.every
	if !due {
		return nil
	}
	if !w.reset { // a wipe emptied the table: only this batch's buckets remain
		for b := range sv.dirty {
			if _, ok := w.changed[b]; ok {
				continue
			}
			// The commit loop is the only writer of the index: no lock.
			h := w.merkle.buckets[b]
			if err := w.tx.setBucket(ctx, b, h[:]); err != nil {
				return fmt.Errorf("update merkle bucket %d: %w", b, err)
			}
		}
	}
	for b, h := range w.changed {
		if err := w.tx.setBucket(ctx, b, h); err != nil {
			return fmt.Errorf("update merkle bucket %d: %w", b, err)
		}
	}
	if err := w.tx.setMeta(ctx, "merkle_wal", w.next-1); err != nil {
		return fmt.Errorf("record merkle_wal: %w", err)
	}
	w.wroteTree = true
	return nil
}

// committed records what a committed batch did to the stored table.
func (sv *merkleSaved) committed(w *batchWriter) {
	if w.wroteTree {
		clear(sv.dirty)
		sv.known, sv.upTo, sv.at = true, w.next-1, time.Now()
		return
	}
	for b := range w.changed {
		sv.dirty[b] = struct{}{}
	}
}

// closeMerkle writes the pending buckets before the store closes, so a
// clean restart recomputes nothing. A node that may not write (an HA
// standby) leaves them to whichever node writes next.
func (s *Store) closeMerkle() {
	if s.saved.known && len(s.saved.dirty) == 0 && s.saved.upTo == s.last && s.metaRows == [3]uint64{s.last, s.epoch, s.lastEpoch} {
		return
	}
	ctx := context.Background()
	tx, err := s.db.begin(ctx, false)
	if err != nil {
		if !errors.Is(err, ErrFenced) {
			s.log.Warn("merkle index not written at close; the next open recomputes it", "err", err)
		}
		return
	}
	w := &batchWriter{tx: tx, merkle: s.merkle, changed: map[int][]byte{}, next: s.last + 1, epoch: s.epoch, lastEpoch: s.lastEpoch,
		stored: s.metaRows, saved: &s.saved, bulk: true}
	if err := w.finish(ctx); err != nil {
		_ = tx.rollback(ctx)
		s.log.Warn("merkle index not written at close; the next open recomputes it", "err", err)
		return
	}
	if err := tx.commit(ctx); err != nil {
		if !errors.Is(err, ErrFenced) {
			s.log.Warn("merkle index not written at close; the next open recomputes it", "err", err)
		}
		return
	}
	s.saved.committed(w)
	s.metaRows = [3]uint64{w.next - 1, w.epoch, w.lastEpoch}
}

// catchUpMerkle reads merkle_wal and recomputes, from the data, the
// buckets that changed after the stored table was last written (a crash,
// or an HA node that stopped without writing it). They stay pending: the
// next save writes them.
func (s *Store) catchUpMerkle(ctx context.Context) error {
	upTo, known, err := s.db.metaValue(ctx, "merkle_wal")
	if err != nil {
		return err
	}
	s.saved = merkleSaved{known: known, upTo: upTo, dirty: map[int]struct{}{}, at: time.Now(), every: merkleSaveInterval}
	if !known || upTo == s.last {
		return nil
	}
	buckets, err := s.bucketsChangedAfter(ctx, upTo)
	if err != nil {
		return fmt.Errorf("recompute merkle index: %w", err)
	}
	contents, err := s.db.bucketEntries(ctx, buckets)
	if err != nil {
		return fmt.Errorf("recompute merkle index: %w", err)
	}
	for _, b := range buckets {
		s.merkle.buckets[b] = [hashSize]byte(BucketHash(contents[b]))
		s.saved.dirty[b] = struct{}{}
	}
	s.merkle.dirty = true
	if s.log != nil {
		s.log.Info("merkle index recomputed after an unclean stop", "buckets", len(buckets), "stored_up_to", upTo, "last_wal", s.last)
	}
	return nil
}

// bucketsChangedAfter lists the buckets of the keys of the WAL entries
// after index upTo, or every bucket when those entries are not all there.
func (s *Store) bucketsChangedAfter(ctx context.Context, upTo uint64) ([]int, error) {
	every := func() []int {
		all := make([]int, NumBuckets)
		for i := range all {
			all[i] = i
		}
		return all
	}
	if upTo > s.last || s.last-upTo > maxCatchUpEntries {
		return every(), nil
	}
	seen := map[int]struct{}{}
	for after := upTo; after < s.last; {
		entries, err := s.db.walSince(ctx, after, catchUpPage)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.Index != after+1 {
				return every(), nil // a gap: the history is not all there
			}
			after = e.Index
			if e.Key != "" {
				seen[bucketOf(e.Key)] = struct{}{}
			}
		}
		if len(entries) == 0 {
			return every(), nil
		}
	}
	out := make([]int, 0, len(seen))
	for b := range seen {
		out = append(out, b)
	}
	slices.Sort(out)
	return out, nil
}
