package storage

import "bytes"

// A primary's streams read every committed WAL entry right after its
// commit, one read per commit per secondary: under load that re-read was a
// fifth of the primary's CPU with one secondary. The newest entries are
// therefore kept in memory as they commit, and WALSinceBytes serves a
// stream that is close behind from there; a stream further behind, or
// anything after a bulk change (a wipe, a trim, a merkle sync, an applied
// WAL batch), reads the table as before.

const (
	recentWALEntries = 8192
	recentWALBytes   = 8 << 20
)

// recentWAL is the newest committed WAL entries, indexes contiguous,
// guarded by Store.mu.
type recentWAL struct {
	entries []WALEntry
	bytes   int64
}

func entrySize(e WALEntry) int64 { return int64(len(e.Key) + len(e.Value)) }

// add appends a committed batch's entries; entries that do not follow the
// newest one start the log over.
func (r *recentWAL) add(es []WALEntry) {
	if len(es) == 0 {
		return
	}
	if n := len(r.entries); n > 0 && r.entries[n-1].Index+1 != es[0].Index {
		r.clear()
	}
	for _, e := range es {
		r.entries = append(r.entries, e)
		r.bytes += entrySize(e)
	}
	drop := 0
	for len(r.entries)-drop > recentWALEntries || (r.bytes > recentWALBytes && len(r.entries)-drop > 1) {
		r.bytes -= entrySize(r.entries[drop])
		drop++
	}
	if drop > 0 {
		// Copy rather than reslice, so the dropped values can be freed.
		r.entries = append([]WALEntry(nil), r.entries[drop:]...)
	}
}

func (r *recentWAL) clear() { r.entries, r.bytes = nil, 0 }

// since returns the entries after index after within the limits of
// WALSinceBytes, and false when the log does not hold the entry after it.
func (r *recentWAL) since(after uint64, maxEntries int, maxBytes int64) ([]WALEntry, bool) {
	if len(r.entries) == 0 || after+1 < r.entries[0].Index || after >= r.entries[len(r.entries)-1].Index {
		return nil, false
	}
	start := int(after + 1 - r.entries[0].Index)
	var out []WALEntry
	total := int64(0)
	for _, e := range r.entries[start:] {
		size := entrySize(e)
		if len(out) == maxEntries || (len(out) > 0 && total+size > maxBytes) {
			break
		}
		out = append(out, e)
		total += size
	}
	return out, true
}

// recentSince serves WALSinceBytes from memory when it can: nothing when
// after is at or past the newest entry, the entries when the log holds
// them.
func (s *Store) recentSince(after uint64, maxEntries int, maxBytes int64) ([]WALEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if after >= s.last {
		return nil, true
	}
	return s.recent.since(after, maxEntries, maxBytes)
}

// keepValue copies a value into the log: the caller's slice is theirs.
func keepValue(v []byte) []byte {
	if v == nil {
		return nil
	}
	return bytes.Clone(v)
}
