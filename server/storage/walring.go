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
	recentWALEntries = 2048 // about a second of writes at full load
	recentWALBytes   = 4 << 20
)

// recentWAL is the newest committed WAL entries, indexes contiguous, in a
// circular buffer allocated once (appending costs no allocation), guarded by
// Store.mu.
type recentWAL struct {
	buf   []WALEntry // len recentWALEntries once used
	head  int        // position of the oldest entry
	n     int
	bytes int64
}

func entrySize(e WALEntry) int64 { return int64(len(e.Key) + len(e.Value)) }

func (r *recentWAL) at(k int) *WALEntry { return &r.buf[(r.head+k)%len(r.buf)] }

// add appends a committed batch's entries; entries that do not follow the
// newest one start the log over.
func (r *recentWAL) add(es []WALEntry) {
	if len(es) == 0 {
		return
	}
	if r.n > 0 && r.at(r.n-1).Index+1 != es[0].Index {
		r.clear()
	}
	if r.buf == nil {
		r.buf = make([]WALEntry, recentWALEntries)
	}
	for _, e := range es {
		if r.n == len(r.buf) {
			r.dropOldest()
		}
		*r.at(r.n) = e
		r.n++
		r.bytes += entrySize(e)
	}
	for r.bytes > recentWALBytes && r.n > 1 {
		r.dropOldest()
	}
}

func (r *recentWAL) dropOldest() {
	old := r.at(0)
	r.bytes -= entrySize(*old)
	*old = WALEntry{} // let its value be freed
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// clear empties the log and frees its buffer (bulk changes are rare).
func (r *recentWAL) clear() { *r = recentWAL{} }

// since returns the entries after index after within the limits of
// WALSinceBytes, and false when the log does not hold the entry after it.
func (r *recentWAL) since(after uint64, maxEntries int, maxBytes int64) ([]WALEntry, bool) {
	if r.n == 0 || after+1 < r.at(0).Index || after >= r.at(r.n-1).Index {
		return nil, false
	}
	var out []WALEntry
	total := int64(0)
	for k := int(after + 1 - r.at(0).Index); k < r.n; k++ {
		e := *r.at(k)
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
