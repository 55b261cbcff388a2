package replication

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// A performance secondary receives a view of the primary's replicated
// keyspace (filter.go). The stream and the merkle repair are DR's; these
// functions give them the view: a DR secondary's view is everything, and
// for it they return the store's own answers unchanged.

// viewBatch bounds how many buckets one read of a filtered view holds.
const viewBatch = 256

// perfView caches each performance secondary's merkle root by the WAL
// index it was computed at: heartbeats ask for it every interval.
type perfView struct {
	mu    sync.Mutex
	roots map[string]viewRoot
}

// viewRoot is a cached root: valid while the WAL index (which moves with
// the mount table) and the secondary's filter are those it was made with.
type viewRoot struct {
	wal    uint64
	filter string
	root   string
}

// filterSig names a filter for the cache (nil: no filter).
func filterSig(f *PathsFilter) string {
	if f == nil {
		return ""
	}
	return f.Mode + ":" + strings.Join(f.Paths, "\x00")
}

// excludedFor is the predicate of the keys secondary id does not receive,
// nil for a DR secondary (it receives everything).
func (m *Manager) excludedFor(ctx context.Context, id string) (func(string) bool, error) {
	if m.kind != KindPerformance {
		return nil, nil
	}
	var table []MountRef
	if m.opts.Mounts != nil {
		var err error
		if table, err = m.opts.Mounts(ctx); err != nil {
			return nil, fmt.Errorf("read the mount table for secondary %s's view: %w", id, err)
		}
	}
	return performanceExcludes(m.opts.TokenPrefixes, table, m.snapshot().PathsFilters[id]), nil
}

// outgoing is entries as secondary id receives them: an excluded entry
// keeps its index and time but carries no key or value, so that the
// secondary's position stays the primary's index.
func outgoing(entries []storage.WALEntry, excluded func(string) bool) []storage.WALEntry {
	if excluded == nil {
		return entries
	}
	out := make([]storage.WALEntry, len(entries))
	for i, e := range entries {
		if e.Key != "" && excluded(e.Key) {
			e = storage.WALEntry{Index: e.Index, Epoch: e.Epoch, CreatedAt: e.CreatedAt}
		}
		out[i] = e
	}
	return out
}

// keptKVs drops the excluded entries of a bucket.
func keptKVs(kvs []storage.KV, excluded func(string) bool) []storage.KV {
	if excluded == nil {
		return kvs
	}
	out := make([]storage.KV, 0, len(kvs))
	for _, kv := range kvs {
		if !excluded(kv.Key) {
			out = append(out, kv)
		}
	}
	return out
}

// bucketHashesFor is the merkle buckets of secondary id's view.
func (m *Manager) bucketHashesFor(ctx context.Context, id string) ([][]byte, error) {
	excluded, err := m.excludedFor(ctx, id)
	if err != nil || excluded == nil {
		return m.store.BucketHashes(), err
	}
	out := make([][]byte, 0, storage.NumBuckets)
	for first := 0; first < storage.NumBuckets; first += viewBatch {
		batch := make([]int, 0, viewBatch)
		for b := first; b < min(first+viewBatch, storage.NumBuckets); b++ {
			batch = append(batch, b)
		}
		got, err := m.store.BucketEntries(ctx, batch)
		if err != nil {
			return nil, err
		}
		for _, b := range batch {
			out = append(out, storage.BucketHash(keptKVs(got[b], excluded)))
		}
	}
	return out, nil
}

// rootFor is the merkle root of secondary id's view at pos.
func (m *Manager) rootFor(ctx context.Context, id string, pos storage.Position) (string, error) {
	if m.kind != KindPerformance {
		return pos.MerkleRoot, nil
	}
	// The filter is read before the view: a root computed with a newer
	// filter than sig is only recomputed once more, never kept stale.
	sig := filterSig(m.snapshot().PathsFilters[id])
	m.view.mu.Lock()
	c, ok := m.view.roots[id]
	m.view.mu.Unlock()
	if ok && c.wal == pos.LastWAL && c.filter == sig {
		return c.root, nil
	}
	hashes, err := m.bucketHashesFor(ctx, id)
	if err != nil {
		return "", err
	}
	root := storage.MerkleRoot(hashes)
	m.view.mu.Lock()
	if m.view.roots == nil {
		m.view.roots = map[string]viewRoot{}
	}
	m.view.roots[id] = viewRoot{wal: pos.LastWAL, filter: sig, root: root}
	m.view.mu.Unlock()
	return root, nil
}

// forgetView drops the cached root of secondary id (its filter changed).
func (m *Manager) forgetView(id string) {
	m.view.mu.Lock()
	delete(m.view.roots, id)
	m.view.mu.Unlock()
}

// viewRoot is the root a frame carries for secondary id at pos, or "" when
// it cannot be had consistently now (the store moved while the view was
// read, or it could not be read): the secondary then skips the check.
func (m *Manager) viewRoot(ctx context.Context, id string, pos storage.Position) string {
	root, err := m.rootFor(ctx, id, pos)
	if err != nil {
		// Sealed primaries cannot read the mount table: said once a
		// heartbeat, so only at debug level.
		m.log.Debug("merkle root of a secondary's view", "secondary_id", id, "error", err)
		return ""
	}
	if m.kind == KindPerformance && m.store.Position().LastWAL != pos.LastWAL {
		m.forgetView(id)
		return ""
	}
	return root
}
