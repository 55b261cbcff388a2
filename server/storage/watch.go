package storage

import (
	"strings"
	"sync"
	"sync/atomic"
)

// Watch lets a cache above the store (decoded tokens, the mount table)
// know when keys under a prefix may have changed, without reading them:
// the counter it returns moves after every commit that wrote or deleted
// such a key, local or replicated, and after every bulk change (a WAL batch
// applied, a wipe, a merkle sync), which may touch any key. It moves
// before the writers are answered, so a write that was acknowledged is
// never hidden by a cache. A cache takes the counter's value before it
// reads a key and keeps what it read only while the counter still holds
// that value.
func (s *Store) Watch(prefix string) *atomic.Uint64 {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	w := &watch{prefix: prefix}
	s.watches = append(s.watches, w)
	return &w.gen
}

type watch struct {
	prefix string
	gen    atomic.Uint64
}

// watchList is the Store's registered watches.
type watchList struct {
	watchMu sync.Mutex
	watches []*watch
}

// bumpWatches moves the counters a committed batch concerns.
func (s *Store) bumpWatches(batch []*writeRequest) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for _, w := range s.watches {
		if batchTouches(batch, w.prefix) {
			w.gen.Add(1)
		}
	}
}

func batchTouches(batch []*writeRequest, prefix string) bool {
	for _, req := range batch {
		if req.fn != nil {
			return true // bulk changes may touch any key
		}
		for _, op := range req.ops {
			if strings.HasPrefix(op.Key, prefix) {
				return true
			}
		}
	}
	return false
}

// bumpAllWatches moves every counter: the keyspace may have changed in any
// way this Store did not write itself (an HA takeover, after which other
// nodes' writes are in the database).
func (s *Store) bumpAllWatches() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for _, w := range s.watches {
		w.gen.Add(1)
	}
}
