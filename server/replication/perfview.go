package replication

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vaultrepl/terraform-provider-vaultrepl/server/storage"
)

// A performance secondary receives a view of the primary's replicated
// keyspace (filter.go). The stream and the merkle repair are DR's; these
// functions give them the view: a DR secondary's view is everything, and
// for it they return the store's own answers unchanged.

// viewBatch bounds how many buckets one read of a filtered view holds.
const viewBatch = 256

// perfView keeps each performance secondary's merkle buckets, so that a
// heartbeat's root costs the buckets that changed since the last one, not
// a scan of the keyspace (which, with 10,000 keys and a 200 ms heartbeat,
// took 60% of a busy primary's CPU and held the stream up for 100 ms).
type perfView struct {
	mu    sync.Mutex
	views map[string]*secondaryView
}

// secondaryView is one secondary's view of the keyspace, bucket by bucket.
// A view bucket is recomputed when the store's own hash of that bucket
// (which moves with every change to any of its keys, excluded or not, and
// with wipes and merkle syncs, which the WAL does not show) differs from
// the hash of the entries the view bucket was computed from.
type secondaryView struct {
	mu sync.Mutex // one update at a time
	// sig names the excluded prefixes the hashes were made with: a new
	// filter or mount table that excludes other keys starts over.
	sig string
	// store[b] is the hash of all the entries (excluded ones too) view[b]
	// was computed from, as the store hashes a bucket; nil: not read yet.
	store [][]byte
	view  [][]byte
	// root is the view's root at a WAL index, computed while the store
	// stood there (nil until one was). Not under mu, which a refresh holds
	// while it reads: a heartbeat never waits for one.
	root atomic.Pointer[rootAt]
	// seen is the WAL index of the last heartbeat; refreshing is set while
	// a background refresh runs.
	seen       atomic.Uint64
	refreshing atomic.Bool
}

// rootAt is a view's root and the WAL index it is the root at.
type rootAt struct {
	wal  uint64
	root string
}

// get returns secondary id's view, created empty.
func (p *perfView) get(id string) *secondaryView {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.views == nil {
		p.views = map[string]*secondaryView{}
	}
	v := p.views[id]
	if v == nil {
		v = &secondaryView{}
		p.views[id] = v
	}
	return v
}

// forgetView drops the view of secondary id (its filter changed).
func (m *Manager) forgetView(id string) {
	m.view.mu.Lock()
	delete(m.view.views, id)
	m.view.mu.Unlock()
}

// viewPrefixes are the key prefixes secondary id does not receive; nil for
// a DR secondary (it receives everything).
func (m *Manager) viewPrefixes(ctx context.Context, id string) ([]string, error) {
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
	return excludedPrefixes(m.opts.TokenPrefixes, table, m.snapshot().PathsFilters[id]), nil
}

// excludedFor is the predicate of the keys secondary id does not receive,
// nil for a DR secondary (it receives everything).
func (m *Manager) excludedFor(ctx context.Context, id string) (func(string) bool, error) {
	prefixes, err := m.viewPrefixes(ctx, id)
	if err != nil || prefixes == nil {
		return nil, err
	}
	return excludesPrefixes(prefixes), nil
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

// bucketHashesFor is the merkle buckets of secondary id's view, each at
// least as new as the store's position when it was called. A merkle sync
// asks for them, after a heartbeat's root did not match: they are read
// afresh, so that no cached bucket can keep a secondary repairing to it.
func (m *Manager) bucketHashesFor(ctx context.Context, id string) ([][]byte, error) {
	if m.kind != KindPerformance {
		return m.store.BucketHashes(), nil
	}
	hashes, _, _, err := m.refreshView(ctx, id, m.store.Position(), true)
	return hashes, err
}

// refreshView brings secondary id's view up to date with the store, read
// at pos or later (every bucket when all), and returns a copy of its
// bucket hashes and how many buckets it read. quiet says nothing was
// committed since pos while the buckets were read: the hashes are then
// exactly the view at pos.
func (m *Manager) refreshView(ctx context.Context, id string, pos storage.Position, all bool) (hashes [][]byte, quiet bool, read int, err error) {
	prefixes, err := m.viewPrefixes(ctx, id)
	if err != nil {
		return nil, false, 0, err
	}
	sig := strings.Join(prefixes, "\x00")
	v := m.view.get(id)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.view == nil || v.sig != sig || all {
		v.sig = sig
		v.root.Store(nil)
		v.view = make([][]byte, storage.NumBuckets)
		v.store = make([][]byte, storage.NumBuckets)
	}
	before := m.store.BucketHashes()
	var dirty []int
	for b, h := range before {
		if v.store[b] == nil || !bytes.Equal(v.store[b], h) {
			dirty = append(dirty, b)
		}
	}
	excluded := excludesPrefixes(prefixes)
	quiet = true
	for first := 0; first < len(dirty); first += viewBatch {
		batch := dirty[first:min(first+viewBatch, len(dirty))]
		got, err := m.store.BucketEntries(ctx, batch)
		if err != nil {
			return nil, false, 0, err
		}
		for _, b := range batch {
			// The store's hash of exactly what was read, so that the pair
			// agrees whatever was committed meanwhile: a bucket read newer
			// than before[b] is not read again once the store's hash
			// catches up, and one the store moves on from is.
			v.store[b] = storage.BucketHash(got[b])
			v.view[b] = storage.BucketHash(keptKVs(got[b], excluded))
			if !bytes.Equal(v.store[b], before[b]) {
				quiet = false
			}
		}
	}
	quiet = quiet && m.store.Position().LastWAL == pos.LastWAL
	hashes = make([][]byte, len(v.view))
	for b, h := range v.view {
		hashes[b] = slices.Clone(h)
	}
	return hashes, quiet, len(dirty), nil
}

// viewRoot is the root a frame carries for secondary id at pos, or "" when
// none is known for pos (the secondary then skips the check). The view is
// brought up to date in the background, at most one refresh per secondary
// at a time, so the stream never waits for it; and only once the store
// stood still since the last heartbeat: while writes flow there is no
// quiet root to send, and a refresh after them reads each bucket they
// changed once. The root of a store that stops at pos is sent from the
// second heartbeat after.
func (m *Manager) viewRoot(_ context.Context, id string, pos storage.Position) string {
	if m.kind != KindPerformance {
		return pos.MerkleRoot
	}
	v := m.view.get(id)
	still := v.seen.Swap(pos.LastWAL) == pos.LastWAL
	if r := v.root.Load(); r != nil && r.wal == pos.LastWAL {
		return r.root
	}
	if still && !v.refreshing.Swap(true) {
		go m.refreshRoot(id, v)
	}
	return ""
}

// refreshRoot refreshes secondary id's view and keeps its root when the
// store was quiet meanwhile. It ends with the Manager (stopCtx).
func (m *Manager) refreshRoot(id string, v *secondaryView) {
	defer v.refreshing.Store(false)
	if m.view.get(id) != v {
		return // forgotten (a new filter): the next heartbeat starts afresh
	}
	pos := m.store.Position()
	hashes, quiet, _, err := m.refreshView(m.stopCtx, id, pos, false)
	if err != nil {
		// Sealed primaries cannot read the mount table: said once a
		// heartbeat, so only at debug level.
		m.log.Debug("merkle root of a secondary's view", "secondary_id", id, "error", err)
		return
	}
	if quiet {
		v.root.Store(&rootAt{wal: pos.LastWAL, root: storage.MerkleRoot(hashes)})
	}
}
